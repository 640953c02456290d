"""Logging in: tokens that work, wrong credentials, and the lock after five failures in a row."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import AuditEvent, Role, User
from tests.conftest import PASSWORD, add_user

TOKEN_URL = "/api/v1/auth/token"


def log_in(client: TestClient, email: str, password: str) -> tuple[int, dict]:
    response = client.post(TOKEN_URL, data={"username": email, "password": password})
    return response.status_code, response.json()


@pytest.fixture
def user(db: Session) -> User:
    return add_user(db, Role.ESTHETICIAN, email="esme@clinic.example.com")


def test_log_in_gives_a_working_bearer_token(client: TestClient, user: User) -> None:
    status, body = log_in(client, "ESME@clinic.example.com", PASSWORD)  # email is case-insensitive
    assert status == 200
    assert body["token_type"] == "bearer"
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["email"] == "esme@clinic.example.com"
    assert me.json()["role"] == "esthetician"


def test_wrong_password_and_unknown_email_get_the_same_answer(client: TestClient, user: User) -> None:
    wrong_password = log_in(client, user.email, "not-the-password")
    unknown_email = log_in(client, "nobody@clinic.example.com", PASSWORD)
    assert wrong_password == unknown_email == (401, {"detail": "Wrong email or password."})


def test_five_failures_in_a_row_lock_the_account(client: TestClient, user: User, db: Session) -> None:
    for _ in range(4):
        assert log_in(client, user.email, "wrong-password")[0] == 401
    status, body = log_in(client, user.email, "wrong-password")
    assert status == 401
    assert "locked" in body["detail"]
    # Locked: even the right password is refused, for 15 minutes.
    status, body = log_in(client, user.email, PASSWORD)
    assert status == 401 and "locked" in body["detail"]
    db.refresh(user)
    assert user.locked_until is not None
    assert timedelta(minutes=14) < user.locked_until - utcnow() <= timedelta(minutes=15)


def test_success_resets_the_count(client: TestClient, user: User) -> None:
    for _ in range(4):
        log_in(client, user.email, "wrong-password")
    assert log_in(client, user.email, PASSWORD)[0] == 200
    for _ in range(4):
        log_in(client, user.email, "wrong-password")
    assert log_in(client, user.email, PASSWORD)[0] == 200  # never five in a row


def test_lock_ends_after_fifteen_minutes(client: TestClient, user: User, db: Session) -> None:
    user.locked_until = utcnow() + timedelta(seconds=30)
    db.commit()
    assert log_in(client, user.email, PASSWORD)[0] == 401
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.commit()
    assert log_in(client, user.email, PASSWORD)[0] == 200


def test_admin_can_unlock(client: TestClient, user: User, db: Session, admin: dict[str, str]) -> None:
    for _ in range(5):
        log_in(client, user.email, "wrong-password")
    response = client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"unlock": True})
    assert response.status_code == 200
    assert response.json()["locked_until"] is None
    assert log_in(client, user.email, PASSWORD)[0] == 200


def test_deactivated_account_cannot_log_in(client: TestClient, user: User, db: Session) -> None:
    user.is_active = False
    db.commit()
    status, body = log_in(client, user.email, PASSWORD)
    assert status == 401 and "deactivated" in body["detail"]


def test_failed_log_ins_are_audited_without_the_password(client: TestClient, user: User, db: Session) -> None:
    log_in(client, user.email, "wrong-password-123")
    log_in(client, user.email, PASSWORD)
    events = db.scalars(select(AuditEvent).where(AuditEvent.user_id == user.id).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["auth.login_failed", "auth.login"]
    assert all("wrong-password-123" not in str(e.detail) for e in events)
    assert events[0].ip_address == "testclient"


def test_log_in_needs_both_fields(client: TestClient) -> None:
    response = client.post(TOKEN_URL, data={"username": "someone@clinic.example.com"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "password", "message": "is required"}]
