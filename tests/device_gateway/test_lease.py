"""The active/standby lease, on SQLite and PostgreSQL: who gets it, who is refused, and the race for it."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import GatewayLease
from db.session import make_engine, make_session_factory, transaction
from device_gateway.lease import Lease
from tests.device_gateway.conftest import eventually
from tests.mqtt import WAIT_S
from tests.services import free_port

ROUNDS = 60
LONG_AGO = timedelta(hours=1)  # well past on the database's clock too, whatever small skew it has


@pytest.fixture
def factory(database: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database)
    yield make_session_factory(engine)
    engine.dispose()


def _expiry(factory: sessionmaker[Session]) -> datetime | None:
    with transaction(factory) as session:
        return session.scalar(select(GatewayLease.expires_at).where(GatewayLease.name == "devices"))


def _expire(factory: sessionmaker[Session], holder: str | None = None) -> None:
    """Make the lease run out now, as if its holder had stopped renewing an hour ago."""
    values: dict[str, object] = {"expires_at": utcnow() - LONG_AGO}
    if holder is not None:
        values["holder"] = holder
    with transaction(factory) as session:
        session.execute(update(GatewayLease).values(**values))


def test_the_first_caller_gets_the_lease(factory: sessionmaker[Session]) -> None:
    lease = Lease(factory, "gateway-a")
    assert lease.holder_now() is None
    assert lease.acquire_or_renew()
    assert lease.holder_now() == "gateway-a"


def test_another_holder_is_refused_while_the_lease_is_valid(factory: sessionmaker[Session]) -> None:
    assert Lease(factory, "gateway-a").acquire_or_renew()
    expires = _expiry(factory)
    standby = Lease(factory, "gateway-b")
    assert not standby.acquire_or_renew()
    assert not standby.acquire_or_renew()
    assert standby.holder_now() == "gateway-a"
    assert _expiry(factory) == expires  # a refused try does not touch the holder's lease


def test_renewing_keeps_the_lease_and_pushes_its_end(factory: sessionmaker[Session]) -> None:
    active = Lease(factory, "gateway-a")
    assert active.acquire_or_renew()
    first = _expiry(factory)
    assert first is not None and first > utcnow() + timedelta(seconds=2)  # the default ttl is 3 s
    assert active.acquire_or_renew()
    second = _expiry(factory)
    assert second is not None and second > first
    assert active.holder_now() == "gateway-a"


def test_a_standby_takes_an_expired_lease_and_the_old_holder_becomes_standby(factory: sessionmaker[Session]) -> None:
    assert Lease(factory, "gateway-a").acquire_or_renew()
    _expire(factory)
    standby = Lease(factory, "gateway-b")
    assert standby.holder_now() is None
    assert standby.acquire_or_renew()
    assert standby.holder_now() == "gateway-b"
    assert not Lease(factory, "gateway-a").acquire_or_renew()


def test_a_holder_whose_lease_expired_untaken_gets_it_back(factory: sessionmaker[Session]) -> None:
    active = Lease(factory, "gateway-a")
    assert active.acquire_or_renew()
    _expire(factory)  # the database was away for longer than the lease, and no standby came
    assert active.acquire_or_renew()
    assert active.holder_now() == "gateway-a"


def test_a_short_lease_runs_out_by_itself(factory: sessionmaker[Session]) -> None:
    ttl = timedelta(milliseconds=300)
    assert Lease(factory, "gateway-a", ttl=ttl).acquire_or_renew()
    standby = Lease(factory, "gateway-b", ttl=ttl)
    assert not standby.acquire_or_renew()
    eventually(lambda: standby.holder_now() is None)  # polled: nothing signals the end of a lease
    assert standby.acquire_or_renew()
    assert standby.holder_now() == "gateway-b"


def test_release_hands_the_lease_over_at_once(factory: sessionmaker[Session]) -> None:
    active, standby = Lease(factory, "gateway-a"), Lease(factory, "gateway-b")
    assert active.acquire_or_renew()
    assert not standby.acquire_or_renew()
    active.release()
    assert standby.holder_now() is None
    assert standby.acquire_or_renew()
    assert standby.holder_now() == "gateway-b"


def test_release_by_one_that_does_not_hold_it_changes_nothing(factory: sessionmaker[Session]) -> None:
    active, standby = Lease(factory, "gateway-a"), Lease(factory, "gateway-b")
    assert active.acquire_or_renew()
    standby.release()
    assert active.holder_now() == "gateway-a"
    assert not standby.acquire_or_renew()


def test_leases_of_different_names_are_held_apart(factory: sessionmaker[Session]) -> None:
    assert Lease(factory, "gateway-a").acquire_or_renew()
    assert Lease(factory, "gateway-b", name="reports").acquire_or_renew()
    assert Lease(factory, "gateway-a").holder_now() == "gateway-a"
    assert Lease(factory, "gateway-a", name="reports").holder_now() == "gateway-b"


def test_two_gateways_racing_for_the_lease_never_both_win(factory: sessionmaker[Session]) -> None:
    """Each round starts with no valid lease: the row missing, expired from a third gateway, or expired from
    one of the two (a holder back from a database outage racing a standby); both then try at the same moment."""
    leases = [Lease(factory, "gateway-a"), Lease(factory, "gateway-b")]
    together = threading.Barrier(len(leases), timeout=WAIT_S)

    def race(lease: Lease) -> bool:
        together.wait()
        return lease.acquire_or_renew()

    with ThreadPoolExecutor(len(leases)) as pool:
        for round_ in range(ROUNDS):
            if round_ % 3 == 0:
                with transaction(factory) as session:
                    session.execute(delete(GatewayLease))
            else:
                _expire(factory, holder="gateway-gone" if round_ % 3 == 1 else "gateway-a")
            wins = list(pool.map(race, leases))
            assert wins.count(True) == 1, f"round {round_}: {wins}"
            assert leases[0].holder_now() == leases[wins.index(True)].holder


def test_database_errors_reach_the_caller() -> None:
    engine = make_engine(f"postgresql+psycopg://127.0.0.1:{free_port()}/nothing_listens_here")
    lease = Lease(make_session_factory(engine), "gateway-a")
    try:
        with pytest.raises(OperationalError):
            lease.acquire_or_renew()
        with pytest.raises(OperationalError):
            lease.release()
        with pytest.raises(OperationalError):
            lease.holder_now()
    finally:
        engine.dispose()
