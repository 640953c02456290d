"""The role matrix: every role against every endpoint, written out here independently of api/permissions.py."""

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db.models import Role
from tests.api.test_screening_engine import NOTHING
from tests.conftest import add_user, bearer

ALL = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
CLINICAL = frozenset({Role.ADMIN, Role.MEDICAL_DIRECTOR, Role.ESTHETICIAN})  # may see health data

# (method, path) -> roles allowed. Paths are the OpenAPI templates.
MATRIX: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users"): ALL,
    ("GET", "/api/v1/users/me"): ALL,
    ("GET", "/api/v1/users/{user_id}"): ALL,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("POST", "/api/v1/clients"): ALL,
    ("GET", "/api/v1/clients"): ALL,
    ("GET", "/api/v1/clients/{client_id}"): ALL,
    ("PATCH", "/api/v1/clients/{client_id}"): ALL,
    ("DELETE", "/api/v1/clients/{client_id}"): frozenset({Role.ADMIN, Role.FRONT_DESK}),
    ("GET", "/api/v1/audit"): ADMIN,
    ("GET", "/api/v1/settings"): ALL,
    ("PUT", "/api/v1/settings"): ADMIN,
    ("POST", "/api/v1/clients/{client_id}/screenings"): CLINICAL,
    ("GET", "/api/v1/clients/{client_id}/screenings"): ALL,  # the front desk sees outcomes only
    ("POST", "/api/v1/clients/{client_id}/eligibility"): ALL,  # the front desk sees eligible or not only
    ("POST", "/api/v1/clients/{client_id}/physician-approvals"): frozenset({Role.MEDICAL_DIRECTOR, Role.ESTHETICIAN}),
    ("GET", "/api/v1/clients/{client_id}/physician-approvals"): CLINICAL,
    ("POST", "/api/v1/clients/{client_id}/physician-approvals/{approval_id}/revoke"): frozenset(
        {Role.MEDICAL_DIRECTOR}),
    ("GET", "/api/v1/screening-rules"): ALL,
    ("GET", "/api/v1/screening-rules/{version}"): ALL,
    ("PUT", "/api/v1/screening-rules"): ADMIN,
}
PUBLIC = {("POST", "/api/v1/auth/token"), ("GET", "/health")}


def test_every_endpoint_is_in_the_matrix(app: FastAPI) -> None:
    served = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    assert served == set(MATRIX) | PUBLIC


APPROVAL = {"physician_name": "Dr. Okafor", "scope": "pregnancy", "approved_on": "2026-01-05",
            "valid_until": "2099-01-01", "document_reference": "scan 114"}
# A body that succeeds, for each endpoint that takes one.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/users"): {"email": "{unique}@clinic.example.com", "password": "long-enough-pw",
                                "full_name": "New Hire", "role": "esthetician"},
    ("PATCH", "/api/v1/users/{user_id}"): {"full_name": "Renamed"},
    ("POST", "/api/v1/clients"): {"first_name": "New", "last_name": "Client", "date_of_birth": "1990-01-01",
                                  "phone": "+1 555 0100 200"},
    ("PATCH", "/api/v1/clients/{client_id}"): {"phone": "+1 555 0100 201"},
    ("PUT", "/api/v1/settings"): {"timezone": "Europe/Paris"},
    ("POST", "/api/v1/clients/{client_id}/screenings"): {"answers": NOTHING},
    ("POST", "/api/v1/clients/{client_id}/eligibility"): {"on": "2099-01-01"},
    ("POST", "/api/v1/clients/{client_id}/physician-approvals"): APPROVAL,
    ("POST", "/api/v1/clients/{client_id}/physician-approvals/{approval_id}/revoke"): {"reason": "withdrawn"},
    ("PUT", "/api/v1/screening-rules"): {"retinol_deferral_days": 3},
}


def _valid_call(endpoint: tuple[str, str], client: TestClient, owner: dict[str, str], clinician: dict[str, str],
                db: Session) -> tuple[str, str, dict[str, Any] | None]:
    """A request that succeeds for an allowed role: real ids, valid bodies."""
    method, path = endpoint
    if "{client_id}" in path:
        made = client.post("/api/v1/clients", headers=owner, json={
            "first_name": "Matrix", "last_name": "Client", "date_of_birth": "1990-01-01",
            "email": f"{uuid.uuid4().hex[:10]}@example.com"})
        path = path.replace("{client_id}", made.json()["id"])
    if "{approval_id}" in path:
        approval = client.post(path.split("/physician-approvals")[0] + "/physician-approvals",
                               headers=clinician, json=APPROVAL)
        path = path.replace("{approval_id}", approval.json()["id"])
    if "{user_id}" in path:
        path = path.replace("{user_id}", str(add_user(db, Role.ESTHETICIAN).id))
    path = path.replace("{version}", "1")
    body = BODIES.get(endpoint)
    if body and "email" in body:
        body = body | {"email": body["email"].replace("{unique}", uuid.uuid4().hex[:10])}
    return method, path, body


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("endpoint", list(MATRIX), ids=lambda e: f"{e[0]} {e[1]}")
def test_role_matrix(endpoint: tuple[str, str], role: Role, client: TestClient,
                     as_role: dict[Role, dict[str, str]], db: Session) -> None:
    method, path, body = _valid_call(endpoint, client, as_role[Role.ADMIN], as_role[Role.MEDICAL_DIRECTOR], db)
    response = client.request(method, path, headers=as_role[role], json=body)
    if role in MATRIX[endpoint]:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["detail"]


@pytest.mark.parametrize("endpoint", list(MATRIX), ids=lambda e: f"{e[0]} {e[1]}")
def test_every_endpoint_needs_a_token(endpoint: tuple[str, str], client: TestClient) -> None:
    method, path = endpoint
    for name in ("{client_id}", "{user_id}", "{approval_id}"):
        path = path.replace(name, str(uuid.uuid4()))
    path = path.replace("{version}", "1")
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
    forged = create_access_token(user_id=user.id, key="another-key-" + "x" * 40, now=utcnow(), minutes=60)
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
