"""Failed log-ins, counted where they come from (OWASP: throttle the source, do not lock the account for all).

Five failures in a row with one email from one address lock that email at that address for 15 minutes; twenty
failures from one address, whatever the emails, hold back every log-in from it for 15 minutes. An email is
counted the same whether or not it has an account, so neither lock tells who has one. The owner of an
account logs in from their own address meanwhile, and an admin sees and lifts the locks.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import LoginThrottle
from db.models.login_throttle import WHOLE_ADDRESS, account_key

MAX_FAILED_LOGINS = 5  # in a row, for one email from one address
MAX_FAILURES_PER_ADDRESS = 20  # within WINDOW, whatever the emails
WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True)
class Hold:
    """A log-in refused for a while: for this email from this address, or for the whole address."""

    whole_address: bool
    until: datetime

    def retry_after_s(self, now: datetime) -> int:
        return max(1, math.ceil((self.until - now).total_seconds()))


@dataclass(frozen=True)
class Lock:
    """An account's lock at one address, as an admin sees it."""

    address: str
    locked_until: datetime


def address_of(ip_address: str | None) -> str:
    return (ip_address or UNKNOWN_ADDRESS)[:64]


def address_hold(session: Session, *, address: str, now: datetime) -> Hold | None:
    """Whether every log-in from this address is held back now."""
    until = _locked_until(session, address=address, account=WHOLE_ADDRESS, now=now)
    return Hold(whole_address=True, until=until) if until else None


def pair_hold(session: Session, *, address: str, email: str, now: datetime) -> Hold | None:
    """Whether this email is locked at this address now."""
    until = _locked_until(session, address=address, account=account_key(email), now=now)
    return Hold(whole_address=False, until=until) if until else None


def count_failure(session: Session, *, address: str, email: str, now: datetime) -> Hold | None:
    """Count one failed log-in for the email at the address and for the address; the hold it starts, if any."""
    _forget_expired(session, now=now)
    pair = _count(session, address=address, account=account_key(email), limit=MAX_FAILED_LOGINS, now=now)
    whole = _count(session, address=address, account=WHOLE_ADDRESS, limit=MAX_FAILURES_PER_ADDRESS, now=now)
    session.flush()
    if pair.locked_until and pair.locked_until > now:
        return Hold(whole_address=False, until=pair.locked_until)
    if whole.locked_until and whole.locked_until > now:
        return Hold(whole_address=True, until=whole.locked_until)
    return None


def forget_failures(session: Session, *, address: str, email: str) -> None:
    """A log-in succeeded: the email's count at this address starts again (the address's own count stays)."""
    session.execute(
        delete(LoginThrottle).where(LoginThrottle.address == address, LoginThrottle.account == account_key(email))
    )


def locks_of(session: Session, *, emails: Iterable[str], now: datetime) -> dict[str, list[Lock]]:
    """Each email's locks in force, by address."""
    keys = {account_key(email): email for email in emails}
    found: dict[str, list[Lock]] = {email: [] for email in keys.values()}
    if not keys:
        return found
    rows = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.account.in_(keys), LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.address)
    )
    for row in rows:
        assert row.locked_until is not None  # the query asked for it
        found[keys[row.account]].append(Lock(address=row.address, locked_until=row.locked_until))
    return found


def unlock(session: Session, *, email: str) -> None:
    """Lift the email's locks and counts at every address."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.account == account_key(email)))


def _locked_until(session: Session, *, address: str, account: str, now: datetime) -> datetime | None:
    return session.scalar(
        select(LoginThrottle.locked_until).where(
            LoginThrottle.address == address, LoginThrottle.account == account, LoginThrottle.locked_until > now
        )
    )


def _count(session: Session, *, address: str, account: str, limit: int, now: datetime) -> LoginThrottle:
    row = _row_for_update(session, address=address, account=account, now=now)
    if row.window_started_at + WINDOW <= now or (row.locked_until and row.locked_until <= now):
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.failures, row.window_started_at, row.locked_until = 0, now, now + LOCK_DURATION
    row.expires_at = max(row.window_started_at + WINDOW, row.locked_until or now)
    return row


def _row_for_update(session: Session, *, address: str, account: str, now: datetime) -> LoginThrottle:
    """The row, made if missing and locked until commit: two API workers counting at once both count."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(LoginThrottle)
        .values(
            address=address,
            account=account,
            failures=0,
            window_started_at=now,
            expires_at=now + WINDOW,
        )
        .on_conflict_do_nothing(index_elements=["address", "account"])
    )
    row = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.address == address, LoginThrottle.account == account)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def _forget_expired(session: Session, *, now: datetime) -> None:
    """Drop a batch of rows that count for nothing any more; those another log-in holds are left for later,
    so that two log-ins never wait on each other's rows in opposite orders."""
    expired = (
        select(LoginThrottle.address, LoginThrottle.account)
        .where(LoginThrottle.expires_at < now)
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        delete(LoginThrottle)
        .where(tuple_(LoginThrottle.address, LoginThrottle.account).in_(expired))
        .execution_options(synchronize_session=False)
    )
