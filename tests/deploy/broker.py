"""A real Mosquitto 2 running the shipped configuration and ACL (on a free port of this machine), and clients that
log in to it and wait for its answers."""

import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.deploy.shipped import MOSQUITTO_ACL, MOSQUITTO_CONF
from tests.mqtt import mosquitto_program, same_user
from tests.services import free_port

BROKER_START_TIMEOUT_S = 10.0
_Process = subprocess.Popen[bytes]
MQTT_TIMEOUT_S = 5.0


def add_user(password_file: Path, username: str, password: str) -> None:
    """Add or replace a user in a Mosquitto password file, made if it does not exist."""
    create = [] if password_file.exists() else ["-c"]
    subprocess.run(
        [mosquitto_program("mosquitto_passwd"), *create, "-b", str(password_file), username, password],  # noqa: S603
        check=True,
        capture_output=True,
    )


def local_config(tmp_path: Path, port: int, password_file: Path, sys_interval: int | None = 1) -> Path:
    """The repository's config, with the container paths and the port moved to this test's own;
    `sys_interval` None keeps the broker's default."""
    replacements = {
        "listener": f"listener {port} 127.0.0.1",
        "password_file": f"password_file {password_file}",
        "acl_file": f"acl_file {MOSQUITTO_ACL}",
        "persistence_location": f"persistence_location {tmp_path}/",
    }
    lines = []
    for line in MOSQUITTO_CONF.read_text().splitlines():
        key = line.split(" ", 1)[0]
        lines.append(replacements.pop(key, line))
    assert not replacements, f"mosquitto.conf no longer sets {sorted(replacements)}"
    lines.append(same_user())
    if sys_interval is not None:
        lines.append(f"sys_interval {sys_interval}")  # $SYS every second, not every 10: the ACL test reads one
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


@contextmanager
def running(command: list[str], port: int, log_path: Path, env: dict[str, str] | None = None) -> Iterator[_Process]:
    """Run `command`, logging to `log_path`, until it accepts connections on `port`; terminate it at the end."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    try:
        _wait_until_accepting(process, port, log_path)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=BROKER_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_mosquitto(
    tmp_path: Path, users: dict[str, str], sys_interval: int | None = 1
) -> Iterator[tuple[int, _Process]]:
    """Mosquitto on a free local port with the repository's config and ACL: its port and process.
    The users are added to tmp_path/passwd, which may already hold others."""
    port = free_port()
    password_file = tmp_path / "passwd"
    for username, password in users.items():
        add_user(password_file, username, password)
    conf = local_config(tmp_path, port, password_file, sys_interval)
    with running([mosquitto_program(), "-c", str(conf)], port, tmp_path / "mosquitto.log") as process:
        yield port, process


def _wait_until_accepting(process: _Process, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + BROKER_START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"no listener after {BROKER_START_TIMEOUT_S} s:\n{log_path.read_text()}")
        try:  # the pause between attempts doubles as the check that it has not exited
            returncode = process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"mosquitto exited with {returncode}; it refused the config:\n{log_path.read_text()}")


class BrokerClient:
    """A paho client whose connect, subscribe and publish wait for the broker's answer. Its client id is its username
    unless told otherwise; `persistent` keeps its session (clean_session=false), as a device does."""

    def __init__(
        self,
        port: int,
        username: str,
        password: str,
        protocol: int = mqtt.MQTTv311,
        client_id: str | None = None,
        persistent: bool = False,
    ) -> None:
        self.username = username
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.dropped = threading.Event()  # the connection ended, by the broker or by close()
        self._acks: queue.Queue[Any] = queue.Queue()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or username,
            clean_session=False if persistent else None,
            protocol=protocol,
        )
        self._client.username_pw_set(username, password)
        self._client.on_connect = lambda _c, _u, _f, reason, _p: self._acks.put(reason)
        self._client.on_subscribe = lambda _c, _u, mid, _reasons, _p: self._acks.put(mid)
        self._client.on_message = lambda _c, _u, message: self.messages.put((message.topic, message.payload))
        self._client.on_disconnect = lambda *_: self.dropped.set()
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        reason = self._acks.get(timeout=MQTT_TIMEOUT_S)
        assert not reason.is_failure, f"{username} refused: {reason}"

    def subscribe(self, topic: str) -> None:
        _, mid = self._client.subscribe(topic, qos=1)
        assert self._acks.get(timeout=MQTT_TIMEOUT_S) == mid

    def publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1).wait_for_publish(timeout=MQTT_TIMEOUT_S)

    def next_message(self) -> tuple[str, bytes]:
        try:
            return self.messages.get(timeout=MQTT_TIMEOUT_S)
        except queue.Empty:
            pytest.fail(f"{self.username} received nothing within {MQTT_TIMEOUT_S} s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def clients(port: int, users: dict[str, str]) -> Iterator[Callable[..., BrokerClient]]:
    """connect(username, ...) logs a BrokerClient in with its password from `users`; all are closed at the end."""
    with ExitStack() as opened:

        def connect(username: str, **options: Any) -> BrokerClient:
            client = BrokerClient(port, username, users[username], **options)
            opened.callback(client.close)
            return client

        yield connect
