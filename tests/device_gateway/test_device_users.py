"""The devices' broker users the gateway keeps for Mosquitto (deploy/mosquitto/run.sh loads them;
tests/deploy/test_shipped_mosquitto.py shows the broker letting exactly these devices in)."""

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.broker_passwords import hash_device_password, is_broker_hash
from db.models import Device, DeviceStatus, Room
from db.session import make_engine, make_session_factory, transaction
from db.settings import Settings
from device_gateway.device_users import DeviceUsersFile
from device_gateway.runner import GatewayRunner
from tests.mqtt import private_mosquitto
from tests.services import migrated_database

ARGON2_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"  # how devices were kept before


def add_devices(session: Session, *devices: tuple[str, str, DeviceStatus]) -> None:
    room = Room(name=f"Room of {devices[0][0]}")
    session.add(room)
    session.flush()
    for device_id, hashed, status in devices:
        session.add(
            Device(
                device_id=device_id,
                serial=f"SN-{device_id}",
                room_id=room.id,
                probe_area_cm2=0.5,
                mqtt_password_hash=hashed,
                status=status,
                state="offline",
            )
        )
    session.commit()


def test_every_device_not_revoked_with_a_hash_the_broker_checks(
    tmp_path: Path, db: Session, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    in_service, resting = hash_device_password("a"), hash_device_password("b")
    add_devices(
        db,
        ("gd-b", in_service, DeviceStatus.IN_SERVICE),
        ("gd-a", resting, DeviceStatus.OUT_OF_SERVICE),
        ("gd-gone", hash_device_password("c"), DeviceStatus.REVOKED),
        ("gd-old", ARGON2_HASH, DeviceStatus.IN_SERVICE),
    )
    path = tmp_path / "devices.passwd"
    users = DeviceUsersFile(path, session_factory)
    with caplog.at_level(logging.WARNING):
        assert users.refresh()
        assert not users.refresh()
    assert path.read_text() == f"gd-a:{resting}\ngd-b:{in_service}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "gd-old" in warning and "/mqtt-password" in warning  # once, with what to do about it
    assert [p.name for p in tmp_path.iterdir()] == ["devices.passwd"]  # no half-written file left behind


def test_a_password_hash_has_mosquittos_form() -> None:
    hashed = hash_device_password("s3cret", salt=bytes(range(12)))
    assert is_broker_hash(hashed)
    _, algorithm, iterations, salt, digest = hashed.split("$")
    assert (algorithm, iterations, salt) == ("7", "101", "AAECAwQFBgcICQoL")
    assert len(digest) == 88  # 64 bytes of SHA-512, base64


def test_the_gateway_process_keeps_the_file(tmp_path: Path) -> None:
    with migrated_database("sqlite", tmp_path) as url, private_mosquitto(tmp_path) as port:
        engine = make_engine(url)
        hashed = hash_device_password("x")
        with transaction(make_session_factory(engine)) as session:
            add_devices(session, ("gd-kept", hashed, DeviceStatus.IN_SERVICE))
        engine.dispose()
        path = tmp_path / "devices.passwd"
        runner = GatewayRunner(
            Settings(database_url=url, data_dir=tmp_path, mqtt_url=f"mqtt://127.0.0.1:{port}", device_users_file=path)
        )
        runner.start()
        try:
            assert path.read_text() == f"gd-kept:{hashed}\n"  # written before the gateway connects
        finally:
            runner.stop()
