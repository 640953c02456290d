"""Helpers that set up a bookable clinic through the API: rooms, devices, approved protocols, clients."""

import uuid
from typing import Any

from fastapi.testclient import TestClient

from db.models import Role

STEP = {
    "zone": "cheeks",
    "mode": "LIFT",
    "current_ua": 200,
    "frequency_hz": 30,
    "waveform": "square",
    "polarity": "alternating",
    "duration_s": 300,
}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def add_room(client: TestClient, admin: dict[str, str], name: str = "Room 1", probe_area_cm2: float = 0.5) -> str:
    room = ok(client.post("/api/v1/rooms", headers=admin, json={"name": name}), 201)
    ok(
        client.post(
            "/api/v1/devices",
            headers=admin,
            json={"serial": f"SN-{uuid.uuid4().hex[:8]}", "room_id": room["id"], "probe_area_cm2": probe_area_cm2},
        ),
        201,
    )
    return room["id"]  # type: ignore[no-any-return]


def approved_protocol(client: TestClient, as_role: dict[Role, dict[str, str]], **changes: Any) -> dict[str, Any]:
    body = {"name": "Lift and tone", "target": {"areas": ["cheeks"], "goal": "lift"}, "steps": [STEP]} | changes
    draft = ok(client.post("/api/v1/protocols", headers=as_role[Role.MEDICAL_DIRECTOR], json=body), 201)
    return ok(
        client.post(
            f"/api/v1/protocols/{draft['id']}/approve",  # type: ignore[no-any-return]
            headers=as_role[Role.MEDICAL_DIRECTOR],
        )
    )


def new_client(client: TestClient, headers: dict[str, str], name: str = "Ada") -> str:
    made = ok(
        client.post(
            "/api/v1/clients",
            headers=headers,
            json={
                "first_name": name,
                "last_name": "Client",
                "date_of_birth": "1985-01-01",
                "email": f"{name.lower()}.{uuid.uuid4().hex[:6]}@example.com",
            },
        ),
        201,
    )
    return made["id"]  # type: ignore[no-any-return]
