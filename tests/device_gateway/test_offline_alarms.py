"""The alarm of a device offline in opening hours, kept by the gateway: first the sweep alone at chosen moments on
each database, then a real gateway on a real broker raising it for a device never heard, ending it when the device
connects, raising it again when the device goes away, and leaving a closed clinic alone."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.schemas.clinic_settings import ClinicSettings, DayHours, OpeningHours
from db.models import Alarm, AlarmSeverity, ClinicSettingsRecord, Device, DeviceStatus
from db.models.clinic_settings import SETTINGS_ROW_ID
from db.session import make_engine, make_session_factory, transaction
from device_gateway.broker_url import BrokerAddress
from device_gateway.gateway import Gateway
from device_gateway.offline_alarms import OfflineAlarms
from device_gateway.simulator import SimulatedDevice
from tests.db.test_alarms import add_device
from tests.device_gateway.conftest import eventually, gateway_is_present
from tests.mqtt import private_mosquitto
from tests.services import BACKENDS, migrated_database

Sweep = Callable[[datetime], None]  # one sweep at the moment given
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)  # the clinic below is in UTC, open 08:00-18:00 every day


def save_hours(session: Session, *, timezone: str = "UTC", open_: time = time(8), close: time = time(18)) -> None:
    """The clinic's settings as an admin saves them (the API's schema makes the document)."""
    day = DayHours(open=open_, close=close)
    days = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), day)
    document = ClinicSettings(timezone=timezone, opening_hours=OpeningHours(**days)).model_dump(mode="json")
    record = session.get(ClinicSettingsRecord, SETTINGS_ROW_ID)
    if record is None:
        session.add(ClinicSettingsRecord(id=SETTINGS_ROW_ID, data=document))
    else:
        record.data = document
    session.flush()


def offline_alarms(session: Session, device: Device) -> list[Alarm]:
    session.expire_all()
    return list(
        session.scalars(
            select(Alarm).where(Alarm.device_id == device.id, Alarm.kind == "device_offline").order_by(Alarm.began_at)
        )
    )


@pytest.fixture
def sweep(db: Session) -> Sweep:
    save_hours(db)
    sweeper = OfflineAlarms(patience=timedelta(minutes=1), watching_since=MONDAY - timedelta(days=1))
    return lambda now: sweeper.sweep(db, now=now)


def test_a_device_never_heard_in_opening_hours_raises_one_medium_alarm(db: Session, sweep: Sweep) -> None:
    device = add_device(db)
    sweep(MONDAY.replace(hour=9))
    sweep(MONDAY.replace(hour=9, minute=1))
    [alarm] = offline_alarms(db, device)
    assert (alarm.severity, alarm.ended_at, alarm.session_id) == (AlarmSeverity.MEDIUM, None, None)
    assert alarm.began_at == MONDAY.replace(hour=8)  # missing since the clinic opened
    assert "never heard from" in alarm.detail


def test_out_of_opening_hours_a_missing_device_raises_nothing(db: Session, sweep: Sweep) -> None:
    device = add_device(db)
    for moment in (MONDAY.replace(hour=7, minute=59), MONDAY.replace(hour=18), MONDAY.replace(hour=23)):
        sweep(moment)
    assert offline_alarms(db, device) == []


def test_a_newly_registered_device_is_given_the_patience_too(db: Session) -> None:
    device = add_device(db)
    device.created_at = MONDAY.replace(hour=10)
    sweeper = OfflineAlarms(patience=timedelta(minutes=1), watching_since=MONDAY)
    save_hours(db)
    sweeper.sweep(db, now=MONDAY.replace(hour=10, second=59))
    assert offline_alarms(db, device) == []
    sweeper.sweep(db, now=MONDAY.replace(hour=10, minute=1))
    [alarm] = offline_alarms(db, device)
    assert alarm.began_at == MONDAY.replace(hour=10)  # registered, never heard: missing since then


def test_a_gateway_that_just_started_misses_no_device_before_the_patience(db: Session) -> None:
    device = add_device(db)
    save_hours(db)
    sweeper = OfflineAlarms(patience=timedelta(minutes=1))
    sweeper.sweep(db, now=MONDAY.replace(hour=9))  # its first sweep: the devices' statuses may still be coming
    assert offline_alarms(db, device) == []
    sweeper.sweep(db, now=MONDAY.replace(hour=9, minute=1))
    assert len(offline_alarms(db, device)) == 1


def test_a_device_gone_for_less_than_the_patience_raises_nothing_yet(db: Session, sweep: Sweep) -> None:
    device = add_device(db)
    device.last_seen_at = MONDAY.replace(hour=10)  # its Last Will came at 10:00
    sweep(MONDAY.replace(hour=10, minute=0, second=59))
    assert offline_alarms(db, device) == []
    sweep(MONDAY.replace(hour=10, minute=1, second=1))
    [alarm] = offline_alarms(db, device)
    assert alarm.began_at == MONDAY.replace(hour=10)
    assert "not heard since 10:00" in alarm.detail


def test_the_alarm_ends_when_the_device_is_heard_again(db: Session, sweep: Sweep) -> None:
    device, other = add_device(db), add_device(db)
    sweep(MONDAY.replace(hour=9))
    device.state, device.last_seen_at = "idle", MONDAY.replace(hour=9, minute=30)
    sweep(MONDAY.replace(hour=9, minute=30, second=4))
    [alarm] = offline_alarms(db, device)
    assert alarm.ended_at == MONDAY.replace(hour=9, minute=30)  # when it was heard, not when the sweep noticed
    assert alarm.acknowledged_at is None  # it cleared by itself: nobody needs to acknowledge it
    assert [a.ended_at for a in offline_alarms(db, other)] == [None]  # the other device is still missing


def test_the_alarm_ends_at_closing_time_and_comes_back_the_next_morning(db: Session, sweep: Sweep) -> None:
    device = add_device(db)
    sweep(MONDAY.replace(hour=17))
    sweep(MONDAY.replace(hour=18, minute=0, second=3))
    sweep((MONDAY + timedelta(days=1)).replace(hour=3))
    [evening] = offline_alarms(db, device)
    assert evening.ended_at == MONDAY.replace(hour=18)
    sweep((MONDAY + timedelta(days=1)).replace(hour=8, minute=0, second=2))
    [_, morning] = offline_alarms(db, device)
    assert (morning.began_at, morning.ended_at) == ((MONDAY + timedelta(days=1)).replace(hour=8), None)


def test_a_device_taken_out_of_service_ends_its_alarm_and_raises_no_other(db: Session, sweep: Sweep) -> None:
    device = add_device(db)
    sweep(MONDAY.replace(hour=9))
    device.status = DeviceStatus.OUT_OF_SERVICE
    sweep(MONDAY.replace(hour=9, minute=5))
    sweep(MONDAY.replace(hour=9, minute=10))
    [alarm] = offline_alarms(db, device)
    assert alarm.ended_at == MONDAY.replace(hour=9, minute=5)


def test_opening_hours_are_the_clinic_s_local_time(db: Session, sweep: Sweep) -> None:
    save_hours(db, timezone="Asia/Tokyo", open_=time(9), close=time(19))  # UTC+9: 00:00-10:00 UTC
    device = add_device(db)
    sweep(MONDAY.replace(hour=11))  # 20:00 in Tokyo
    assert offline_alarms(db, device) == []
    sweep(MONDAY.replace(hour=1))  # 10:00 in Tokyo
    [alarm] = offline_alarms(db, device)
    assert alarm.began_at == MONDAY.replace(hour=0)


# --- a real gateway ------------------------------------------------------------------------------------------


@dataclass
class Site:
    factory: sessionmaker[Session]
    port: int
    device: Device

    def alarms(self) -> list[Alarm]:
        with self.factory() as session:
            return offline_alarms(session, self.device)

    def set_hours(self, *, open_now: bool) -> None:
        """In a zone where it is about noon now: open 08:00-20:00, or only 00:00-01:00 (closed now)."""
        offset = 12 - datetime.now(UTC).hour  # hours ahead of UTC, -11..12 (POSIX signs: Etc/GMT-3 is UTC+3)
        zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
        with transaction(self.factory) as session:
            save_hours(session, timezone=zone, open_=time(8 if open_now else 0), close=time(20 if open_now else 1))


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    with migrated_database(request.param, tmp_path) as url, private_mosquitto(tmp_path) as port:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            device = add_device(session, serial="OFF-001")
        yield Site(factory, port, device)
        engine.dispose()


def running_gateway(site: Site) -> Gateway:
    """A gateway that misses a device at once (its patience is for a broker's restart, which none of these has)."""
    gateway = Gateway(
        BrokerAddress("127.0.0.1", site.port), session_factory=site.factory, client_id=f"gw-{uuid.uuid4().hex[:6]}"
    )
    gateway.offline_alarms.patience = timedelta(0)
    gateway.start()
    eventually(lambda: gateway_is_present(site.factory))
    return gateway


def test_the_gateway_raises_the_alarm_in_opening_hours_and_ends_it_when_the_device_connects(site: Site) -> None:
    site.set_hours(open_now=True)
    gateway = running_gateway(site)
    try:
        [raised] = eventually(site.alarms)
        assert raised.ended_at is None and "never heard from" in raised.detail
        simulated = SimulatedDevice(site.device.device_id, port=site.port, speed=100.0)
        simulated.start()
        try:
            [ended] = eventually(lambda: [a for a in site.alarms() if a.ended_at is not None])
            assert ended.id == raised.id and ended.acknowledged_at is None
        finally:
            simulated.stop()
        [_, again] = eventually(lambda: len(site.alarms()) == 2 and site.alarms())
        assert again.ended_at is None and "not heard since" in again.detail
    finally:
        gateway.stop()
    assert gateway.counters["errors"] == 0


def test_the_gateway_raises_nothing_while_the_clinic_is_closed(site: Site) -> None:
    site.set_hours(open_now=False)
    gateway = running_gateway(site)
    try:
        swept = gateway.offline_alarms.sweeps
        eventually(lambda: gateway.offline_alarms.sweeps >= swept + 3)
        assert site.alarms() == []
    finally:
        gateway.stop()
    assert gateway.counters["errors"] == 0
