"""Two gateways at once: the active one is killed mid-session, the standby takes over, and the interlock goes on."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import GatewayPresence, SessionMessage
from device_gateway.lease import Lease
from tests.device_gateway.conftest import RealClinic, Wire, eventually, treating
from tests.mqtt import WAIT_S
from tests.services import only

TAKEOVER_WITHIN_S = 5.0  # issue 10


def _gateway(database_url: str, port: int, gateway_id: str, folder: Path) -> subprocess.Popen[bytes]:
    folder.mkdir()
    env = os.environ | {
        "GALVANI_DATABASE_URL": database_url,
        "GALVANI_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "GALVANI_DATA_DIR": str(folder),
        "GALVANI_GATEWAY_ID": gateway_id,
        "GALVANI_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", "gateway"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _heard(clinic: RealClinic, gateway_id: str, role: str) -> bool:
    with clinic.factory() as session:
        presence = session.get(GatewayPresence, gateway_id)
        return presence is not None and presence.role == role and presence.connected


@pytest.fixture
def two_gateways(clinic: RealClinic, database: str, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """The clinic's in-process gateway gives way to two gateway processes: `a` active, `b` standing by."""
    clinic.gateway.stop()  # it hands the lease over as it leaves
    processes = {"a": _gateway(database, clinic.port, "gateway-a", tmp_path / "a")}
    try:
        eventually(lambda: _heard(clinic, "gateway-a", "active"))
        processes["b"] = _gateway(database, clinic.port, "gateway-b", tmp_path / "b")
        eventually(lambda: _heard(clinic, "gateway-b", "standby"))
        yield processes
    finally:
        for process in processes.values():
            process.kill()
            process.wait(WAIT_S)


@pytest.mark.parametrize("database", only("postgresql"), indirect=True)
def test_the_standby_takes_over_and_stops_an_over_current(clinic: RealClinic, two_gateways: dict, wire: Wire) -> None:
    device = clinic.device(speed=1.0)
    try:
        session_id = treating(clinic, device)
        eventually(lambda: clinic.stored_messages(session_id) >= 3)
        two_gateways["a"].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        device.over_current_ua = 400  # the next block, one second away, is over the cap
        stop, body = wire.next_command("stop", timeout=3 * WAIT_S)
        assert body["reason"] == "over_current"
        assert stop.timestamp - killed < TAKEOVER_WITHIN_S
        assert device.wait_idle()
        record = clinic.session(session_id, "stopped")
    finally:
        device.stop()
    assert Lease(clinic.factory, "gateway-b").holder_now() == "gateway-b"
    assert device.gateway_online  # the killed gateway's Will said offline; the one that took over says online
    assert record["missing_seqs"] == []  # what arrived while no gateway was active was written by the standby
    assert [i["kind"] for i in record["incidents"]] == ["over_current"]
    with clinic.factory() as session:
        seqs = session.scalars(select(SessionMessage.seq).where(SessionMessage.session_id == uuid.UUID(session_id)))
        stored = list(seqs)
    assert len(stored) == len(set(stored)) == max(stored)  # every seq once
