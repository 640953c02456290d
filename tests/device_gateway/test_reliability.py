"""Reliability against real Mosquitto: a killed gateway, duplicates, gaps, malformed messages."""

import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select, text

from db.models import DeviceCommand, SessionMessage
from db.session import make_engine, make_session_factory
from device_gateway import topics
from device_gateway.broker_url import BrokerAddress
from device_gateway.gateway import Gateway
from device_gateway.simulator import SimulatedDevice
from tests.device_gateway.conftest import RealClinic, eventually, gateway_is_present
from tests.mqtt import WAIT_S, private_mosquitto
from tests.services import migrated_database, only


def _gateway_process(database_url: str, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "GALVANI_DATABASE_URL": database_url,
        "GALVANI_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "GALVANI_DATA_DIR": str(tmp_path),
        "GALVANI_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", "gateway"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.fixture
def separate_gateway(clinic: RealClinic, database: str, tmp_path: Path) -> Iterator[RealClinic]:
    """The clinic with its gateway in a process of its own (the one the fixture started is stopped)."""
    clinic.gateway.stop()
    process = _gateway_process(database, clinic.port, tmp_path)
    clinic.process = process  # type: ignore[attr-defined]
    try:
        eventually(lambda: gateway_is_present(clinic.factory))  # the stopped one said it left: start would refuse
        yield clinic
    finally:
        clinic.process.kill()  # type: ignore[attr-defined]
        clinic.process.wait(WAIT_S)  # type: ignore[attr-defined]


def test_a_killed_gateway_loses_nothing_and_sends_nothing_twice(
    separate_gateway: RealClinic, database: str, tmp_path: Path
) -> None:
    clinic = separate_gateway
    device = clinic.device()
    try:
        started = clinic.start()
        eventually(lambda: device.state == "armed")
        device.press_start()
        eventually(lambda: clinic.stored_messages(started["session_id"]) >= 5)  # mid-session
        clinic.process.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
        clinic.process.wait(WAIT_S)  # type: ignore[attr-defined]
        assert device.wait_idle(timeout=WAIT_S)  # the device finished while no gateway listened
        clinic.process = _gateway_process(database, clinic.port, tmp_path)  # type: ignore[attr-defined]
        record = clinic.session(started["session_id"], "completed")
    finally:
        device.stop()
    assert record["missing_seqs"] == []  # the broker kept the gateway's QoS 1 messages for it
    assert record["total_output_s"] == pytest.approx(30.0)
    with clinic.factory() as session:
        commands = session.scalars(
            select(DeviceCommand).where(DeviceCommand.session_id == uuid.UUID(started["session_id"]))
        ).all()
    assert [(c.kind, c.status.value) for c in commands] == [("load_protocol", "accepted")]


def test_duplicates_are_stored_once_and_gaps_are_recorded(clinic: RealClinic) -> None:
    device = clinic.device(duplicate_every=3, reorder=True, drop_seq={4})
    try:
        session_id, record = clinic.run_session(device, "completed")
    finally:
        device.stop()
    assert record["missing_seqs"] == [4]
    assert clinic.gateway.counters["duplicates"] > 0
    with clinic.factory() as session:
        seqs = session.scalars(
            select(SessionMessage.seq).where(SessionMessage.session_id == uuid.UUID(session_id))
        ).all()
    assert len(seqs) == len(set(seqs))


def test_malformed_messages_are_dropped_and_the_gateway_goes_on(clinic: RealClinic) -> None:
    device = clinic.device(malformed_every=2)
    try:
        session_id, record = clinic.run_session(device, "completed")
    finally:
        device.stop()
    assert clinic.gateway.counters["malformed"] > 0
    assert record["missing_seqs"] == [] and record["total_output_s"] == pytest.approx(30.0)


@pytest.mark.parametrize("broker", ["persistent"], indirect=True)
def test_a_broker_restart_mid_session_loses_nothing(clinic: RealClinic, request: pytest.FixtureRequest) -> None:
    """The broker goes away while a device treats: the gateway and the device come back by themselves, the
    device's blocks sent meanwhile arrive, and the session completes with every seq stored once."""
    device = clinic.device(speed=10.0)  # 3 s for the 30 s session
    try:
        started = clinic.start()
        eventually(lambda: device.state == "armed")
        device.press_start()
        eventually(lambda: clinic.stored_messages(started["session_id"]) >= 3)
        request.node.mosquitto.restart()  # the gateway and the device reconnect by themselves
        record = clinic.session(started["session_id"], "completed", timeout=3 * WAIT_S)
    finally:
        device.stop()
    assert record["missing_seqs"] == []
    assert record["total_output_s"] == pytest.approx(30.0)


@pytest.mark.parametrize("broker", ["persistent"], indirect=True)
def test_messages_queued_for_the_gateway_survive_a_broker_restart(
    clinic: RealClinic, request: pytest.FixtureRequest
) -> None:
    device = clinic.device()
    try:
        started = clinic.start()
        eventually(lambda: device.state == "armed")
        clinic.gateway.stop()  # its persistent session stays on the broker, subscriptions and all
        device.press_start()
        assert device.wait_idle(timeout=WAIT_S)  # every message is now queued for the absent gateway
        request.node.mosquitto.restart()  # the queue must come back from disk
        successor = Gateway(clinic.gateway.broker, session_factory=clinic.factory, client_id=clinic.gateway.client_id)
        successor.start()
        try:
            record = clinic.session(started["session_id"], "completed")
        finally:
            successor.stop()
    finally:
        device.stop()
    assert record["missing_seqs"] == []
    assert record["total_output_s"] == pytest.approx(30.0)
    assert successor.counters["errors"] == 0


def test_messages_the_broker_drops_for_a_full_queue_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue_of_five = "max_queued_messages 5\nsys_interval 1\n"
    with migrated_database("sqlite", tmp_path) as url, private_mosquitto(tmp_path, queue_of_five) as port:
        engine = make_engine(url)
        address = BrokerAddress("127.0.0.1", port)
        absent = Gateway(address, session_factory=make_session_factory(engine), client_id="gateway-drops")
        absent.start()
        absent.stop()  # its persistent session queues at most 5 messages now
        device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gd-busy")
        device.connect("127.0.0.1", port)
        device.loop_start()
        for _ in range(20):
            device.publish(topics.device_topic("gd-busy", "telemetry"), b"{}", qos=1).wait_for_publish(WAIT_S)
        device.disconnect()
        device.loop_stop()
        back = Gateway(address, session_factory=make_session_factory(engine), client_id="gateway-drops")
        with caplog.at_level(logging.ERROR, logger="device_gateway.gateway"):
            back.start()
            try:
                eventually(lambda: back.counters["broker_dropped"] == 15)
            finally:
                back.stop()
        assert "the broker has dropped 15 QoS 1 messages" in caplog.text
        engine.dispose()


@pytest.mark.parametrize("database", only("postgresql"), indirect=True)
def test_a_gateway_whose_database_connections_are_cut_loses_nothing(clinic: RealClinic, database: str) -> None:
    """PostgreSQL ends the gateway's connections again and again mid-session (a failover, a restart): each
    batch that was not committed is written again, and the interlock counts each block once, so a session
    inside its limits is not stopped for output it did not deliver."""
    clinic.gateway.stop()
    engine = make_engine(database, connect_args={"application_name": "galvani-gateway-under-test"})
    gateway = Gateway(clinic.gateway.broker, session_factory=make_session_factory(engine), client_id="cut-gateway")
    gateway.start()
    device = SimulatedDevice(clinic.mqtt_id, port=clinic.port, speed=10)  # a 30 s session in 3 s
    device.start()
    cutter = make_engine(database)
    try:
        eventually(lambda: gateway_is_present(clinic.factory) and clinic.device_state() == "idle")
        started = clinic.start()
        clinic.session(started["session_id"], "armed")
        device.press_start()
        cuts = 0
        while not device.idle.is_set():
            with cutter.connect() as connection:
                cuts += connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'galvani-gateway-under-test'"
                    )
                ).scalar_one()
            device.idle.wait(0.2)
        record = clinic.session(started["session_id"], "completed")
    finally:
        device.stop()
        gateway.stop()
        engine.dispose()
        cutter.dispose()
    assert cuts >= 5
    assert record["missing_seqs"] == []
    assert record["total_output_s"] == pytest.approx(30.0)
    assert record["incidents"] == []  # no over-time stop from blocks counted twice
    assert gateway.counters["errors"] == 0
