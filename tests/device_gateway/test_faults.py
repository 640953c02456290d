"""A stop always reaches the device: the database away, the gateway started without it, the broker restarted.

Each test runs its own PostgreSQL cluster (tests/postgres_cluster.py) and its own Mosquitto, and stops and
starts them itself; never the machine's shared ones.
"""

import json
import logging
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select, text

from db.models import DeviceCommand, Role, SessionIncident, TreatmentSession
from db.outbox import CHANNEL
from db.session import make_engine, make_session_factory
from device_gateway import outbox_sender, topics
from device_gateway.gateway import Gateway
from device_gateway.outbox_sender import OutboxWakeup
from device_gateway.simulator import SimulatedDevice
from tests.device_gateway.conftest import RealClinic, Wire, eventually, gateway_is_present, treating
from tests.mqtt import WAIT_S
from tests.postgres_cluster import PrivateCluster, private_cluster

STOP_WITHIN_S = 1.0  # issue 10: an over-current while the database is down is stopped within a second


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as running:
        yield running


@pytest.fixture
def database(cluster: PrivateCluster) -> str:
    """The clinic's database is the test's own cluster, which it may stop."""
    return cluster.url


def _recorded(clinic: RealClinic, session_id: str) -> tuple[list[str], list[tuple[str, str]]]:
    with clinic.factory() as session:
        key = uuid.UUID(session_id)
        incidents = list(session.scalars(select(SessionIncident.kind).where(SessionIncident.session_id == key)))
        commands = [
            (c.kind, c.status.value)
            for c in session.scalars(
                select(DeviceCommand).where(DeviceCommand.session_id == key).order_by(DeviceCommand.created_at)
            )
        ]
    return incidents, commands


def test_an_over_current_while_the_database_is_down_is_stopped_at_once(
    clinic: RealClinic, cluster: PrivateCluster, wire: Wire
) -> None:
    device = clinic.device(speed=1.0)
    try:
        session_id = treating(clinic, device)
        cluster.stop()
        device.over_current_ua = 400  # the next block is over the 220 µA cap
        over = wire.next_over(220)
        stop, body = wire.next_command("stop")
        assert stop.timestamp - over.timestamp < STOP_WITHIN_S
        assert body["reason"] == "over_current"
        assert device.wait_idle()  # the device obeyed
        cluster.start()
        eventually(lambda: _recorded(clinic, session_id)[0] == ["over_current"], timeout=3 * WAIT_S)
        record = clinic.session(session_id, "stopped", timeout=3 * WAIT_S)  # its events were kept for later
    finally:
        device.stop()
    incidents, commands = _recorded(clinic, session_id)
    assert commands == [("load_protocol", "accepted"), ("stop", "executed")]  # the same stop, answered
    assert record["incidents"][0]["kind"] == "over_current"
    assert clinic.gateway.counters["errors"] == 0


def test_an_over_current_after_many_blocks_of_an_outage_is_still_seen(
    clinic: RealClinic, cluster: PrivateCluster, wire: Wire
) -> None:
    """The gateway acknowledges a message only once it is stored: with the database away, the broker must go on
    handing it telemetry (no limit on messages in flight), or the interlock goes blind after the first few
    hundred blocks of an outage (issue 10; 100 with the limit Mosquitto had)."""
    device = clinic.device(speed=1.0)
    others = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="many-rooms")  # a stand-in for many rooms:
    others.connect("127.0.0.1", clinic.port)  # blocks of the same session on the same topic
    others.loop_start()
    try:
        session_id = treating(clinic, device)
        cluster.stop()
        topic = topics.device_topic(clinic.mqtt_id, "telemetry")
        for seq in range(100, 600):  # unacknowledged, every one, while the database is away; no contact, so no
            others.publish(topic, _block(session_id, seq, 0.0, contact=False), qos=1).wait_for_publish(WAIT_S)
        others.publish(topic, _block(session_id, 600, 400.0), qos=1)  # output time, which would stop it too
        over = wire.next_over(220)
        stop, body = wire.next_command("stop")
        assert stop.timestamp - over.timestamp < STOP_WITHIN_S
        assert body["reason"] == "over_current"
        cluster.start()
        eventually(lambda: _recorded(clinic, session_id)[0] == ["over_current"], timeout=3 * WAIT_S)
    finally:
        others.disconnect()
        others.loop_stop()
        device.stop()


def _block(session_id: str, seq: int, current_ua: float, contact: bool = True) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "session_id": session_id,
            "seq": seq,
            "step": 0,
            "t_ms": seq * 1000,
            "interval_ms": 100,
            "current_ua": [current_ua] * 10,
            "contact": contact,
        }
    ).encode()


def test_a_gateway_started_without_its_database_works_once_it_is_back(
    clinic: RealClinic, cluster: PrivateCluster, wire: Wire
) -> None:
    clinic.gateway.stop()
    cluster.stop()
    engine = make_engine(cluster.url)
    gateway = Gateway(clinic.gateway.broker, session_factory=make_session_factory(engine), client_id="late-gateway")
    gateway.start()
    device = SimulatedDevice(clinic.mqtt_id, port=clinic.port, speed=1.0)
    device.start()
    try:
        eventually(lambda: any(p["part"] == "database" for p in gateway.health()["problems"]))
        assert gateway.health()["status"] == "degraded"
        cluster.start()
        eventually(lambda: gateway_is_present(clinic.factory) and clinic.device_state() == "idle", timeout=3 * WAIT_S)
        session_id = treating(clinic, device)
        device.over_current_ua = 400
        wire.next_over(220)
        _stop, body = wire.next_command("stop")
        assert body["reason"] == "over_current"
        record = clinic.session(session_id, "stopped")
        assert gateway.health() == {"status": "ok", "role": "active", "problems": []}
    finally:
        device.stop()
        gateway.stop()
        engine.dispose()
    assert [i["kind"] for i in record["incidents"]] == ["over_current"]
    assert gateway.counters["errors"] == 0


@pytest.mark.parametrize("broker", ["persistent"], indirect=True)
def test_a_broker_restart_leaves_the_session_running_and_the_operator_can_stop_it(
    clinic: RealClinic, request: pytest.FixtureRequest
) -> None:
    device = clinic.device(speed=1.0)
    try:
        session_id = treating(clinic, device)
        request.node.mosquitto.restart()  # Mosquitto sends every device's Last Will as it shuts down
        eventually(lambda: device.online.is_set() and clinic.gateway.connected.is_set(), timeout=3 * WAIT_S)
        eventually(lambda: clinic.device_state() == "treating", timeout=2 * WAIT_S)
        assert clinic.session(session_id, "treating")["status"] == "treating"
        response = clinic.http.post(f"/api/v1/sessions/{session_id}/stop", headers=clinic.headers[Role.ESTHETICIAN])
        assert response.status_code == 200, response.text
        assert device.wait_idle()
        record = clinic.session(session_id, "stopped")
    finally:
        device.stop()
    assert "device_offline" not in [i["kind"] for i in record["incidents"]]
    with clinic.factory() as session:
        treatment = session.get(TreatmentSession, uuid.UUID(session_id))
        assert treatment is not None and treatment.ended_at is not None


def test_wakeups_come_back_after_a_database_restart(cluster: PrivateCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender's LISTEN is lost with the database and made again: a command wakes it at once, not at the
    next poll."""
    monkeypatch.setattr(outbox_sender, "LISTEN_RETRY_S", 0.05)
    engine = make_engine(cluster.url)
    wakeup = OutboxWakeup(engine)
    try:
        wakeup.wait(0.01)  # listening
        cluster.restart()
        wakeup.wait(0.01)  # finds its connection gone
        eventually(lambda: wakeup.wait(0.01) or wakeup.listening)
        with engine.begin() as connection:
            connection.execute(text(f"NOTIFY {CHANNEL}"))
        began = time.monotonic()
        wakeup.wait(WAIT_S)
        assert time.monotonic() - began < 1.0  # woken, not timed out
    finally:
        wakeup.close()
        engine.dispose()


def test_a_lasting_database_outage_is_logged_once(
    clinic: RealClinic, cluster: PrivateCluster, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="device_gateway.gateway"):
        cluster.stop()
        eventually(lambda: clinic.gateway.health()["status"] == "degraded")
        device = SimulatedDevice(clinic.mqtt_id, port=clinic.port)  # its status waits to be stored
        device.start()
        try:
            eventually(lambda: clinic.gateway.counters["database_retries"] >= 5)  # many tries, one line
            cluster.start()
            eventually(lambda: clinic.gateway.health()["status"] == "ok", timeout=3 * WAIT_S)
        finally:
            device.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "device_gateway.gateway"]
    assert len([line for line in lines if line.startswith("database unreachable")]) == 1, lines
    assert len([line for line in lines if line.startswith("database is back")]) == 1, lines
