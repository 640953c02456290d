"""Logging in. A refusal says nothing about whether the email has an account, in its words or its time.

Every answer about an email costs exactly one password-hash check (against a dummy hash when there is no
account to check against), so an unknown email takes as long as a wrong password or a locked one. Only an
address that is held back as a whole is answered without one: that answer is given before the email is
looked at, and sparing the hash keeps a flood from one address cheap.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from api.actor import Origin
from api.security import verify_password
from api.services import audit, login_throttle, users
from api.services.login_throttle import Hold
from db.models import User

WRONG_CREDENTIALS = "Wrong email or password."
DEACTIVATED = "This account has been deactivated; ask an admin."


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    refusal: str | None = None
    retry_after_s: int | None = None  # set when the refusal is a hold (429)


def log_in(session: Session, *, email: str, password: str, origin: Origin, now: datetime) -> LoginResult:
    """Check the credentials; a refusal is recorded (and counted) but not raised, so it can be committed."""
    address = login_throttle.address_of(origin.ip_address)
    held = login_throttle.address_hold(session, address=address, now=now)
    if held:
        return _held(held, now=now)
    user = users.get_by_email(session, email=email)
    held = login_throttle.pair_hold(session, address=address, email=email, now=now)
    if held:
        verify_password(password, None)  # the same work as every other answer about an email
        _audit(session, user, origin, "auth.login_refused", reason="locked")
        return _held(held, now=now)
    if not verify_password(password, user.password_hash if user else None):
        return _count_failure(session, user=user, email=email, address=address, origin=origin, now=now)
    assert user is not None  # verify_password is never true without a hash to match
    if not user.is_active:
        # Said only to whoever knows the password: it tells nobody else that the account exists.
        _audit(session, user, origin, "auth.login_refused", reason="inactive")
        return LoginResult(user=None, refusal=DEACTIVATED)
    login_throttle.forget_failures(session, address=address, email=email)
    _audit(session, user, origin, "auth.login")
    return LoginResult(user=user)


def _count_failure(
    session: Session, *, user: User | None, email: str, address: str, origin: Origin, now: datetime
) -> LoginResult:
    held = login_throttle.count_failure(session, address=address, email=email, now=now)
    _audit(
        session,
        user,
        origin,
        "auth.login_failed",
        reason="wrong_password" if user else "unknown_email",
        locked=held is not None,
    )
    return _held(held, now=now) if held else LoginResult(user=None, refusal=WRONG_CREDENTIALS)


def _held(hold: Hold, *, now: datetime) -> LoginResult:
    return LoginResult(user=None, refusal=held_message(hold), retry_after_s=hold.retry_after_s(now))


def held_message(hold: Hold) -> str:
    """The words of a hold: the same whether or not the email has an account."""
    if hold.whole_address:
        return f"Too many failed log-ins from your address: log-ins from it are held back until {hold.until:%H:%M} UTC."
    return (
        f"Too many failed log-ins with this email from your address: try again after {hold.until:%H:%M} UTC, "
        "or ask an admin to lift the lock."
    )


def _audit(session: Session, user: User | None, origin: Origin, action: str, **detail: object) -> None:
    audit.record_anonymous(
        session,
        user_id=user.id if user else None,
        origin=origin,
        action=action,
        record_type="user" if user else None,
        record_id=user.id if user else None,
        detail=detail or None,
    )
