"""The gateway announces itself: retained online, offline on a clean stop, the Last Will when it dies."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.session import make_engine, make_session_factory
from db.settings import Settings
from device_gateway import gateway as gateway_module
from device_gateway import topics
from device_gateway.broker_url import BrokerAddress, parse_broker_url
from device_gateway.gateway import Gateway
from device_gateway.lease import Lease
from device_gateway.reporting import HealthFile
from device_gateway.runner import GatewayRunner
from tests.mqtt import WAIT_S, Subscriber, private_mosquitto
from tests.services import free_port, migrated_database


@pytest.fixture
def broker_port(tmp_path: Path) -> Iterator[int]:
    with private_mosquitto(tmp_path) as port:
        yield port


def test_online_then_offline_on_mosquitto(broker_port: int) -> None:
    gateway = Gateway(BrokerAddress("127.0.0.1", broker_port))
    gateway.start()
    assert gateway.connected.is_set()
    watcher = Subscriber(broker_port, topics.GATEWAY_STATUS)  # joins late: sees the retained status
    try:
        assert watcher.next_payload() == topics.ONLINE
        gateway.stop()
        assert watcher.next_payload() == topics.OFFLINE
    finally:
        watcher.close()


def test_last_will_says_offline_when_the_gateway_is_killed(broker_port: int, tmp_path: Path) -> None:
    env = os.environ | {"GALVANI_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}", "GALVANI_DATA_DIR": str(tmp_path)}
    watcher = Subscriber(broker_port, topics.GATEWAY_STATUS)
    process = subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", "gateway"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert watcher.next_payload() == topics.ONLINE
        process.send_signal(signal.SIGKILL)
        assert watcher.next_payload() == topics.OFFLINE  # sent by the broker: the gateway could not
    finally:
        process.kill()
        process.wait(WAIT_S)
        watcher.close()


def test_gateway_command_stops_cleanly_on_sigterm(broker_port: int, tmp_path: Path) -> None:
    env = os.environ | {"GALVANI_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}", "GALVANI_DATA_DIR": str(tmp_path)}
    watcher = Subscriber(broker_port, topics.GATEWAY_STATUS)
    process = subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", "gateway"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert watcher.next_payload() == topics.ONLINE
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, output
        assert watcher.next_payload() == topics.OFFLINE
        assert "gateway stopped" in output
    finally:
        process.kill()
        watcher.close()


def test_embedded_broker_carries_the_gateway_status(tmp_path: Path) -> None:
    runner = GatewayRunner(Settings(data_dir=tmp_path, mqtt_url=None, embedded_mqtt_port=free_port()))
    runner.start()
    try:
        assert runner.embedded_broker is not None
        watcher = Subscriber(runner.embedded_broker.port, topics.GATEWAY_STATUS)
        try:
            assert watcher.next_payload() == topics.ONLINE
        finally:
            watcher.close()
    finally:
        runner.stop()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", BrokerAddress("127.0.0.1", 1883)),
        ("mqtt://broker", BrokerAddress("broker", 1883)),
        ("mqtt://galvani-gateway:p%40ss@mosquitto:1884", BrokerAddress("mosquitto", 1884, "galvani-gateway", "p@ss")),
    ],
)
def test_broker_urls(url: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(url) == expected


def test_broker_password_is_not_shown() -> None:
    assert "s3cret" not in repr(parse_broker_url("mqtt://gw:s3cret@host:1883"))


def test_a_non_mqtt_url_is_refused() -> None:
    with pytest.raises(ValueError, match="mqtt://"):
        parse_broker_url("http://host:1883")


def test_a_thread_that_keeps_failing_makes_the_gateway_down(
    broker_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part that fails is started again and reported; one that fails over and over means the process must be
    restarted by its supervisor, and the health file says so."""
    monkeypatch.setattr(gateway_module, "RESTART_AFTER_S", 0.01)
    failures = []

    def broken(_self: Gateway) -> None:
        failures.append(1)
        raise RuntimeError("a bug in the outbox")

    monkeypatch.setattr(Gateway, "_send_once", broken)
    with migrated_database("sqlite", tmp_path) as url:
        engine = make_engine(url)
        health_file = tmp_path / "health.json"
        gateway = Gateway(
            BrokerAddress("127.0.0.1", broker_port),
            session_factory=make_session_factory(engine),
            client_id="gateway-broken",
            health_file=health_file,
        )
        gateway.start()
        try:
            assert gateway.fatal.wait(WAIT_S)
            health = gateway.health()
            holder = Lease(make_session_factory(engine), "anyone").holder_now()
        finally:
            gateway.stop()
            engine.dispose()
    assert len(failures) == gateway_module.RESTARTS_ALLOWED
    assert holder == "gateway-broken"  # a failing part is no reason to hand over: only a dead or stopped gateway
    assert (health["status"], [p["part"] for p in health["problems"]]) == ("down", ["sender"])
    assert gateway.counters["errors"] == gateway_module.RESTARTS_ALLOWED


def test_the_health_file_makes_its_folder_and_is_replaced_whole(tmp_path: Path) -> None:
    health_file = HealthFile(tmp_path / "not-there-yet" / "gateway-health.json")
    health_file.write({"status": "ok", "role": "active", "problems": []})
    written = json.loads(health_file.path.read_text())
    assert (written["status"], written["role"]) == ("ok", "active") and "written_at" in written
    assert list(health_file.path.parent.iterdir()) == [health_file.path]  # no partial file left behind
