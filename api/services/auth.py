"""Logging in, with a lock after repeated failures."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from api.actor import Origin
from api.security import verify_password
from api.services import audit, users
from db.models import User

MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
WRONG_CREDENTIALS = "Wrong email or password."


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    refusal: str | None = None


def log_in(session: Session, *, email: str, password: str, origin: Origin, now: datetime) -> LoginResult:
    """Check the credentials; a refusal is recorded (and counted) but not raised, so it can be committed."""
    user = users.get_by_email(session, email=email)
    if user is None:
        verify_password(password, None)  # same work as for a known email
        audit.record_anonymous(session, user_id=None, origin=origin, action="auth.login_failed",
                               detail={"reason": "unknown_email"})
        return LoginResult(user=None, refusal=WRONG_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        audit.record_anonymous(session, user_id=user.id, origin=origin, action="auth.login_refused",
                               record_type="user", record_id=user.id, detail={"reason": "locked"})
        return LoginResult(user=None, refusal=_locked_message(user.locked_until))
    if not verify_password(password, user.password_hash):
        return _count_failure(session, user=user, origin=origin, now=now)
    if not user.is_active:
        audit.record_anonymous(session, user_id=user.id, origin=origin, action="auth.login_refused",
                               record_type="user", record_id=user.id, detail={"reason": "inactive"})
        return LoginResult(user=None, refusal="This account has been deactivated; ask an admin.")
    user.failed_login_count = 0
    user.locked_until = None
    audit.record_anonymous(session, user_id=user.id, origin=origin, action="auth.login",
                           record_type="user", record_id=user.id)
    return LoginResult(user=user)


def _count_failure(session: Session, *, user: User, origin: Origin, now: datetime) -> LoginResult:
    user.failed_login_count += 1
    locked = user.failed_login_count >= MAX_FAILED_LOGINS
    if locked:
        user.locked_until = now + LOCK_DURATION
        user.failed_login_count = 0
    audit.record_anonymous(session, user_id=user.id, origin=origin, action="auth.login_failed",
                           record_type="user", record_id=user.id,
                           detail={"reason": "wrong_password", "locked": locked})
    session.flush()
    if locked and user.locked_until is not None:
        return LoginResult(user=None, refusal=_locked_message(user.locked_until))
    return LoginResult(user=None, refusal=WRONG_CREDENTIALS)


def _locked_message(until: datetime) -> str:
    return (f"This account is locked after {MAX_FAILED_LOGINS} failed log-ins in a row. "
            f"Try again after {until:%H:%M} UTC, or ask an admin to unlock it.")
