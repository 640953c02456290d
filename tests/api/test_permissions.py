"""The role matrix: every role against every endpoint, written out here independently of api/permissions.py."""

import json
import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db.alarms import raise_alarm
from db.models import Role, SessionStatus
from tests.api.clinic import APPROVAL, BODIES, MATRIX, STEP, add_room, approved_protocol, armed_session, new_client, ok
from tests.conftest import add_user, bearer

# Allowed roles pass the role gate here but meet a refusal of the domain (no device online, not yet time).
GATE_ONLY = {("POST", "/api/v1/appointments/{appointment_id}/start")}
PUBLIC = {("POST", "/api/v1/auth/token"), ("GET", "/health")}
# Endless responses: their roles are tested over real HTTP in test_live.py.
STREAMS = {("GET", "/api/v1/devices/{device_id}/live")}


def test_every_endpoint_is_in_the_matrix(app: FastAPI) -> None:
    served = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    assert served == set(MATRIX) | PUBLIC | STREAMS


# Where a path's id must be of a particular kind of record.
PATH_IDS = {
    ("POST", "/api/v1/protocols/{protocol_id}/withdraw"): {"protocol_id": "approved_id"},
    ("POST", "/api/v1/sessions/{session_id}/sign-off"): {"session_id": "finished_session_id"},
}


def _valid_call(
    endpoint: tuple[str, str], client: TestClient, as_role: dict[Role, dict[str, str]], db: Session
) -> tuple[str, str, dict[str, Any] | None]:
    """A request that succeeds for an allowed role: real ids (made by those allowed to), valid bodies."""
    method, path = endpoint
    ids = _Ids(client, as_role, db)
    meaning = PATH_IDS.get(endpoint, {})
    for name in re.findall(r"{(\w+)}", path):
        path = path.replace("{" + name + "}", ids[meaning.get(name, name)])
    body = json.loads(re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], json.dumps(BODIES.get(endpoint))))
    return method, path, body


class _Ids(dict[str, str]):
    """Makes each id the first time a path or body asks for it."""

    def __init__(self, client: TestClient, as_role: dict[Role, dict[str, str]], db: Session) -> None:
        super().__init__()
        self.client, self.as_role, self.db = client, as_role, db

    def __missing__(self, name: str) -> str:
        self[name] = value = self._make(name)
        return value

    def _make(self, name: str) -> str:
        admin, director = self.as_role[Role.ADMIN], self.as_role[Role.MEDICAL_DIRECTOR]
        makers = {
            "unique": lambda: uuid.uuid4().hex[:10],
            "version": lambda: "1",
            "client_id": lambda: new_client(self.client, admin, "Matrix"),
            "user_id": lambda: str(add_user(self.db, Role.ESTHETICIAN).id),
            "esthetician_id": lambda: str(add_user(self.db, Role.ESTHETICIAN).id),
            "approval_id": lambda: self.client.post(
                f"/api/v1/clients/{self['client_id']}/physician-approvals", headers=director, json=APPROVAL
            ).json()["id"],
            "room_id": lambda: add_room(self.client, admin, self["unique"]),
            "device_id": lambda: self.client.get(
                "/api/v1/devices", headers=admin, params={"room_id": self["room_id"]}
            ).json()[0]["id"],
            "protocol_id": lambda: self.client.post(
                "/api/v1/protocols", headers=director, json={"name": "Draft", "steps": [STEP]}
            ).json()["id"],
            "approved_id": lambda: approved_protocol(self.client, self.as_role)["id"],
            "series_id": lambda: self._series()["id"],
            "appointment_id": lambda: self._series()["appointments"][0]["id"],
            "session_id": self._session,
            "alarm_id": self._alarm,
            "finished_session_id": lambda: armed_session(
                self.db, self["appointment_id"], status=SessionStatus.COMPLETED
            ),
        }
        return makers[name]()

    def _session(self) -> str:
        """An armed session, written straight to the table: starting one needs a device online."""
        return armed_session(self.db, self["appointment_id"])

    def _alarm(self) -> str:
        """A device's fault alarm, written straight to the table as the gateway would."""
        alarm = raise_alarm(self.db, device_id=uuid.UUID(self["device_id"]), kind="fault", detail="a test fault")
        self.db.commit()
        return str(alarm.id)

    def _series(self) -> dict[str, Any]:
        if "series" not in self.__dict__:
            body = json.loads(
                re.sub(r"{(\w+)}", lambda m: self[m.group(1)], json.dumps(BODIES[("POST", "/api/v1/series")]))
            )
            self.__dict__["series"] = ok(
                self.client.post("/api/v1/series", headers=self.as_role[Role.ADMIN], json=body), 201
            )
        return self.__dict__["series"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("endpoint", list(MATRIX), ids=lambda e: f"{e[0]} {e[1]}")
def test_role_matrix(
    endpoint: tuple[str, str], role: Role, client: TestClient, as_role: dict[Role, dict[str, str]], db: Session
) -> None:
    method, path, body = _valid_call(endpoint, client, as_role, db)
    response = client.request(method, path, headers=as_role[role], json=body)
    if role in MATRIX[endpoint] and endpoint in GATE_ONLY:
        assert response.status_code not in {401, 403}, response.text
    elif role in MATRIX[endpoint]:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["detail"]


@pytest.mark.parametrize("endpoint", [*MATRIX, *STREAMS], ids=lambda e: f"{e[0]} {e[1]}")
def test_every_endpoint_needs_a_token(endpoint: tuple[str, str], client: TestClient) -> None:
    method, path = endpoint
    path = re.sub(r"{\w+}", lambda m: "1" if m.group(0) == "{version}" else str(uuid.uuid4()), path)
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", ""])
def test_garbage_tokens_are_refused(token: str, client: TestClient) -> None:
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_expired_token_is_refused(client: TestClient, db: Session) -> None:
    user = add_user(db, Role.ADMIN)
    assert client.get("/api/v1/users/me", headers=bearer(user, minutes=1)).status_code == 200
    response = client.get("/api/v1/users/me", headers=bearer(user, minutes=-1))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_token_signed_with_another_key_is_refused(client: TestClient, db: Session) -> None:
    from api.security import create_access_token
    from db.base import utcnow

    user = add_user(db, Role.ADMIN)
    forged = create_access_token(
        user_id=user.id, generation=user.token_generation, key="another-key-" + "x" * 40, now=utcnow(), minutes=60
    )
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_deactivated_user_loses_access_at_once(client: TestClient, db: Session, admin: dict[str, str]) -> None:
    user = add_user(db, Role.FRONT_DESK)
    headers = bearer(user)
    assert client.get("/api/v1/clients", headers=headers).status_code == 200
    assert client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"is_active": False}).status_code == 200
    response = client.get("/api/v1/clients", headers=headers)
    assert response.status_code == 401
    assert "deactivated" in response.json()["detail"]


def test_role_change_takes_effect_at_once(client: TestClient, db: Session, admin: dict[str, str]) -> None:
    user = add_user(db, Role.FRONT_DESK)
    headers = bearer(user)
    assert client.get("/api/v1/audit", headers=headers).status_code == 403
    client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"role": "admin"})
    assert client.get("/api/v1/audit", headers=headers).status_code == 200
