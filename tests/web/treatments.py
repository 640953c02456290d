"""Setting up a treatment through the API for the browser tests: asking the API until something happens, and
booking a one-session series a couple of minutes ahead in a room of the test's own."""

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest

from tests.factories import NOTHING
from tests.web.conftest import ADMIN, FRONT_DESK, Clinic, bearer

WAIT_S = 60.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Ask the API until `check` answers something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.1)  # the next question to the API, not a guess at how long the device takes
    pytest.fail(f"{what} did not happen within {timeout:.0f} s")


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def book_soon(clinic: Clinic, desk: dict[str, str], *, client_id: str, room_id: str, esthetician_email: str) -> str:
    """One session of the approved demo protocol two minutes from now, with that esthetician; its appointment id."""
    [protocol] = httpx.get(f"{clinic.url}/api/v1/protocols", headers=desk, params={"status": "approved"}).json()
    staff = httpx.get(f"{clinic.url}/api/v1/users", headers=desk).json()
    esthetician = next(u for u in staff if u["email"] == esthetician_email)
    soon = datetime.now(ZoneInfo(clinic.timezone)).replace(second=0, microsecond=0) + timedelta(minutes=2)
    series = created(
        httpx.post(
            f"{clinic.url}/api/v1/series",
            headers=desk,
            json={
                "client_id": client_id,
                "protocol_id": protocol["id"],
                "esthetician_id": esthetician["id"],
                "room_id": room_id,
                "start_at": soon.isoformat(),
                "plan": {"intensive": {"sessions": 1, "per_week": 1}},
            },
        )
    )
    return str(series["appointments"][0]["id"])


def room_with_device(clinic: Clinic, *, room: str, serial: str) -> tuple[str, str]:
    """A room of the test's own with one device (probes of 0.5 cm²): the room's id and the device's MQTT id."""
    admin = bearer(clinic.url, *ADMIN)
    made = created(httpx.post(f"{clinic.url}/api/v1/rooms", headers=admin, json={"name": room}))
    device = created(
        httpx.post(
            f"{clinic.url}/api/v1/devices",
            headers=admin,
            json={"serial": serial, "room_id": made["id"], "probe_area_cm2": 0.5},
        )
    )
    return str(made["id"]), str(device["device_id"])


def cleared_client(clinic: Clinic, esthetician: dict[str, str], *, first: str, last: str, born: str) -> dict[str, Any]:
    """A client registered at the front desk and screened by the esthetician with nothing to hold treatment back."""
    client = created(
        httpx.post(
            f"{clinic.url}/api/v1/clients",
            headers=bearer(clinic.url, *FRONT_DESK),
            json={
                "first_name": first,
                "last_name": last,
                "date_of_birth": born,
                "email": f"{first.lower()}.{uuid.uuid4().hex[:6]}@example.com",
            },
        )
    )
    screening = {"answers": NOTHING}
    created(httpx.post(f"{clinic.url}/api/v1/clients/{client['id']}/screenings", headers=esthetician, json=screening))
    return client
