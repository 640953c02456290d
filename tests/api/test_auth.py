"""Logging in: tokens that work and end, wrong credentials that tell nothing, and locks on the guesser's address."""

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.app import create_app
from api.security import create_access_token, read_access_token
from db.base import utcnow
from db.models import AuditEvent, LoginThrottle, Role, User
from db.settings import Settings
from tests.api.clinic import log_in, new_client
from tests.conftest import PASSWORD, SECRET_KEY, add_user, bearer

TOKEN_URL = "/api/v1/auth/token"
WRONG = (401, {"detail": "Wrong email or password."})
EMAIL_HELD = re.compile(
    r"Too many failed log-ins with this email from your address: try again after \d\d:\d\d UTC, "
    r"or ask an admin to lift the lock\."
)
ADDRESS_HELD = re.compile(
    r"Too many failed log-ins from your address: log-ins from it are held back until "
    r"\d\d:\d\d UTC\."
)
GUESSER, OWNER = "203.0.113.9", "198.51.100.7"  # documentation addresses (RFC 5737)


@pytest.fixture
def user(db: Session) -> User:
    return add_user(db, Role.ESTHETICIAN, email="esme@clinic.example.com")


@pytest.fixture
def at_address(app: FastAPI) -> Callable[[str], TestClient]:
    """A client of the app whose requests come from the given address."""
    return lambda address: TestClient(app, client=(address, 50000))


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
    assert wrong_password == unknown_email == WRONG


# --- Tokens end with a password change or a deactivation (issue 11, accounts) ---------------------------------


def _screenings(client: TestClient, headers: dict[str, str], admin: dict[str, str]) -> int:
    return client.get(f"/api/v1/clients/{new_client(client, admin)}/screenings", headers=headers).status_code


def _token(client: TestClient, email: str, password: str) -> dict[str, str]:
    status, body = log_in(client, email, password)
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_a_new_password_ends_every_earlier_log_in(client: TestClient, user: User, admin: dict[str, str]) -> None:
    before, also_before = _token(client, user.email, PASSWORD), bearer(user)
    assert _screenings(client, before, admin) == 200
    changed = client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"password": "a-brand-new-password"})
    assert changed.status_code == 200
    for old in (before, also_before):
        refused = client.get(f"/api/v1/users/{user.id}", headers=old)
        assert refused.status_code == 401
        assert refused.json()["detail"] == (
            "This log-in has ended: the account's password was changed or the "
            "account was deactivated since. Log in again."
        )
        assert _screenings(client, old, admin) == 401
    assert _screenings(client, _token(client, user.email, "a-brand-new-password"), admin) == 200


def test_a_deactivation_ends_log_ins_for_good(client: TestClient, user: User, admin: dict[str, str]) -> None:
    before = _token(client, user.email, PASSWORD)
    for change in ({"is_active": False}, {"is_active": True}):
        assert client.patch(f"/api/v1/users/{user.id}", headers=admin, json=change).status_code == 200
    assert client.get("/api/v1/users/me", headers=before).status_code == 401  # back, but not that log-in
    assert client.get("/api/v1/users/me", headers=_token(client, user.email, PASSWORD)).status_code == 200


def test_other_changes_keep_log_ins(client: TestClient, user: User, admin: dict[str, str]) -> None:
    before = _token(client, user.email, PASSWORD)
    assert client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"full_name": "Esme T."}).status_code == 200
    assert client.get("/api/v1/users/me", headers=before).status_code == 200


def test_a_token_already_in_use_ends_at_once_when_the_account_is_deactivated(
    client: TestClient, user: User, admin: dict[str, str]
) -> None:
    """Its signature was checked once and kept; the account is still asked for on every request."""
    before = _token(client, user.email, PASSWORD)
    assert client.get("/api/v1/users/me", headers=before).status_code == 200
    assert client.patch(f"/api/v1/users/{user.id}", headers=admin, json={"is_active": False}).status_code == 200
    refused = client.get("/api/v1/users/me", headers=before)
    assert (refused.status_code, refused.json()["detail"]) == (401, "This account has been deactivated; ask an admin.")


def test_a_token_already_in_use_still_runs_out() -> None:
    key, issued = SECRET_KEY, utcnow()
    token = create_access_token(user_id=uuid.uuid4(), generation=3, key=key, now=issued, minutes=1)
    assert read_access_token(token, key=key, now=issued) == read_access_token(token, key=key, now=issued)
    assert read_access_token(token, key=key, now=issued + timedelta(seconds=59)) is not None
    assert read_access_token(token, key=key, now=issued + timedelta(minutes=1)) is None
    assert read_access_token(token, key=key + "x", now=issued) is None  # another key: checked on its own


# --- Refusals tell nothing about who has an account ----------------------------------------------------------


@pytest.fixture
def hash_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many argon2 verifications each request made: one list entry per reading."""
    calls = [0]
    verify = PasswordHasher.verify

    def counted(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        calls[0] += 1
        return verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    yield calls


def _attempts(client: TestClient, email: str, password: str, times: int) -> list[tuple[int, str, bool]]:
    answers = []
    for _ in range(times):
        response = client.post(TOKEN_URL, data={"username": email, "password": password})
        answers.append((response.status_code, response.json().get("detail", ""), "retry-after" in response.headers))
    return answers


def test_a_real_email_and_an_unknown_one_get_the_same_answers(
    user: User, at_address: Callable[[str], TestClient]
) -> None:
    """Five wrong passwords in a row, then the right one: word for word the same for both emails."""
    real = _attempts(at_address("192.0.2.1"), user.email, "wrong-password", 6)
    real += _attempts(at_address("192.0.2.1"), user.email, PASSWORD, 1)
    unknown = _attempts(at_address("192.0.2.2"), "nobody@clinic.example.com", "wrong-password", 6)
    unknown += _attempts(at_address("192.0.2.2"), "nobody@clinic.example.com", PASSWORD, 1)
    assert (
        _words(real) == _words(unknown) == [(401, "Wrong email or password.", False)] * 4 + [(429, "<held>", True)] * 3
    )


def _words(answers: list[tuple[int, str, bool]]) -> list[tuple[int, str, bool]]:
    """The answers with the time of day a lock ends left out (the two emails may straddle a minute)."""
    return [(status, EMAIL_HELD.sub("<held>", detail), retry) for status, detail, retry in answers]


def test_every_answer_about_an_email_costs_one_hash_check(
    user: User, db: Session, hash_checks: list[int], at_address: Callable[[str], TestClient]
) -> None:
    """An unknown email, a wrong password, a locked email (real or not), a deactivated account and a success
    each verify exactly one argon2 hash, so none answers faster than another."""

    def checks(address: str, email: str, password: str) -> int:
        hash_checks[0] = 0
        _attempts(at_address(address), email, password, 1)
        return hash_checks[0]

    assert checks("192.0.2.1", "nobody@clinic.example.com", PASSWORD) == 1
    assert checks("192.0.2.1", user.email, "wrong-password") == 1
    assert checks("192.0.2.1", user.email, PASSWORD) == 1
    for email in (user.email, "nobody@clinic.example.com"):
        _attempts(at_address("192.0.2.2"), email, "wrong-password", 5)
        assert checks("192.0.2.2", email, PASSWORD) == 1  # locked at this address
    user.is_active = False
    db.commit()
    assert checks("192.0.2.3", user.email, PASSWORD) == 1
    assert checks("192.0.2.3", user.email, "wrong-password") == 1


def test_deactivated_account_cannot_log_in(client: TestClient, user: User, db: Session) -> None:
    user.is_active = False
    db.commit()
    assert log_in(client, user.email, PASSWORD) == (401, {"detail": "This account has been deactivated; ask an admin."})
    assert log_in(client, user.email, "wrong-password") == WRONG  # said only to whoever knows the password


# --- Locks on the guesser's address, never on the account for everyone ----------------------------------------


def test_five_failures_lock_the_email_at_that_address(
    user: User, db: Session, at_address: Callable[[str], TestClient]
) -> None:
    guesser = at_address(GUESSER)
    assert _attempts(guesser, user.email, "wrong-password", 4) == [(401, "Wrong email or password.", False)] * 4
    response = guesser.post(TOKEN_URL, data={"username": user.email, "password": "wrong-password"})
    assert response.status_code == 429
    assert EMAIL_HELD.fullmatch(response.json()["detail"])
    assert 14 * 60 < int(response.headers["retry-after"]) <= 15 * 60
    right = guesser.post(TOKEN_URL, data={"username": user.email, "password": PASSWORD})  # even the right one
    assert right.status_code == 429 and EMAIL_HELD.fullmatch(right.json()["detail"])


def test_failures_from_one_address_do_not_lock_the_owner_out(
    user: User, admin: dict[str, str], at_address: Callable[[str], TestClient]
) -> None:
    """Anyone may try to lock the admin out from afar: the admin still logs in from the clinic."""
    admin_email = "boss@clinic.example.com"
    at_address(OWNER).post(
        "/api/v1/users",
        headers=admin,
        json={"email": admin_email, "password": PASSWORD, "full_name": "Boss", "role": "admin"},
    )
    for email in (user.email, admin_email):
        _attempts(at_address(GUESSER), email, "wrong-password", 7)
        assert log_in(at_address(GUESSER), email, PASSWORD)[0] == 429
        assert log_in(at_address(OWNER), email, PASSWORD)[0] == 200


def test_an_address_with_many_failures_is_held_back(user: User, at_address: Callable[[str], TestClient]) -> None:
    guesser = at_address(GUESSER)
    for n in range(19):  # spread over emails, so that no one email is locked
        assert log_in(guesser, f"guess{n}@clinic.example.com", "wrong-password") == WRONG
    response = guesser.post(TOKEN_URL, data={"username": "guess19@clinic.example.com", "password": "wrong"})
    assert response.status_code == 429 and ADDRESS_HELD.fullmatch(response.json()["detail"])
    assert 14 * 60 < int(response.headers["retry-after"]) <= 15 * 60
    held = guesser.post(TOKEN_URL, data={"username": user.email, "password": PASSWORD})  # any email, any password
    assert (held.status_code, held.json(), "retry-after" in held.headers) == (429, response.json(), True)
    assert log_in(at_address(OWNER), user.email, PASSWORD)[0] == 200


def test_locks_are_shared_by_every_api_worker(user: User, settings: Settings, app: FastAPI) -> None:
    """Counted in the database: a second app (another worker) over the same database refuses too."""
    _attempts(TestClient(app, client=(GUESSER, 50000)), user.email, "wrong-password", 5)
    other_worker = create_app(settings, session_factory=app.state.session_factory)
    assert log_in(TestClient(other_worker, client=(GUESSER, 50000)), user.email, PASSWORD)[0] == 429


def test_success_resets_the_count(client: TestClient, user: User) -> None:
    for _ in range(4):
        log_in(client, user.email, "wrong-password")
    assert log_in(client, user.email, PASSWORD)[0] == 200
    for _ in range(4):
        log_in(client, user.email, "wrong-password")
    assert log_in(client, user.email, PASSWORD)[0] == 200  # never five in a row


def test_lock_ends_after_fifteen_minutes(client: TestClient, user: User, db: Session) -> None:
    _attempts(client, user.email, "wrong-password", 5)
    db.execute(
        update(LoginThrottle)
        .where(LoginThrottle.locked_until.is_not(None))
        .values(locked_until=utcnow() + timedelta(seconds=30))
    )
    db.commit()
    assert log_in(client, user.email, PASSWORD)[0] == 429
    db.execute(
        update(LoginThrottle)
        .where(LoginThrottle.locked_until.is_not(None))
        .values(locked_until=utcnow() - timedelta(seconds=1))
    )
    db.commit()
    assert log_in(client, user.email, PASSWORD)[0] == 200


def test_counts_that_ran_out_are_cleared_away(client: TestClient, db: Session) -> None:
    """The table does not grow with every email ever mistyped: a failure clears rows that count for nothing."""
    long_ago = utcnow() - timedelta(hours=1)
    db.add(
        LoginThrottle(
            address=GUESSER,
            account="0" * 64,
            failures=3,
            window_started_at=long_ago,
            expires_at=long_ago + timedelta(minutes=15),
        )
    )
    db.commit()
    log_in(client, "someone@clinic.example.com", "wrong-password")
    assert db.scalars(select(LoginThrottle.account).where(LoginThrottle.address == GUESSER)).all() == []


def test_admin_sees_and_lifts_a_lock(
    user: User, admin: dict[str, str], at_address: Callable[[str], TestClient]
) -> None:
    guesser, office = at_address(GUESSER), at_address(OWNER)
    _attempts(guesser, user.email, "wrong-password", 5)
    seen = office.get(f"/api/v1/users/{user.id}", headers=admin).json()
    [lock] = seen["login_locks"]
    assert lock["address"] == GUESSER
    assert seen["locked_until"] == lock["locked_until"]
    assert timedelta(minutes=14) < datetime.fromisoformat(lock["locked_until"]) - utcnow() <= timedelta(minutes=15)
    assert "login_locks" not in office.get(f"/api/v1/users/{user.id}", headers=bearer(user)).json()  # admins only
    lifted = office.patch(f"/api/v1/users/{user.id}", headers=admin, json={"unlock": True})
    assert lifted.status_code == 200
    assert (lifted.json()["login_locks"], lifted.json()["locked_until"]) == ([], None)
    assert log_in(guesser, user.email, PASSWORD)[0] == 200


def test_failed_log_ins_are_audited_without_the_password(client: TestClient, user: User, db: Session) -> None:
    log_in(client, user.email, "wrong-password-123")
    log_in(client, user.email, PASSWORD)
    events = db.scalars(select(AuditEvent).where(AuditEvent.user_id == user.id).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["auth.login_failed", "auth.login"]
    assert all("wrong-password-123" not in str(e.detail) for e in events)
    assert events[0].ip_address == "testclient"


def test_the_throttle_keeps_no_email_as_typed(client: TestClient, db: Session) -> None:
    """A password typed into the email box by mistake is not stored."""
    log_in(client, "my-secret-password-typed-here", "whatever")
    assert "my-secret-password-typed-here" not in str(
        [(t.address, t.account) for t in db.scalars(select(LoginThrottle))]
    )


def test_log_in_needs_both_fields(client: TestClient) -> None:
    response = client.post(TOKEN_URL, data={"username": "someone@clinic.example.com"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "password", "message": "is required"}]
