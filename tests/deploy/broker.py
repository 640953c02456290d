"""A real Mosquitto 2 running the shipped configuration and ACL (on a free port of this machine, with certificates
that `galvani certificates` made for it), and clients that log in to it over TLS and wait for its answers."""

import queue
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from galvani.certificates import make_certificates
from tests.deploy.shipped import MOSQUITTO_ACL, MOSQUITTO_CONF
from tests.mqtt import mosquitto_program, same_user
from tests.services import free_port

BROKER_START_TIMEOUT_S = 10.0
_Process = subprocess.Popen[bytes]
MQTT_TIMEOUT_S = 5.0
HOSTS = ("localhost", "127.0.0.1")  # what the tests' broker certificates name; clients connect to 127.0.0.1
TLS_FILES = ("cafile", "certfile", "keyfile")  # mosquitto.conf's options naming the broker's TLS files


@dataclass(frozen=True)
class Broker:
    """Where a test's broker listens, and the clinic CA that signed its certificate."""

    port: int
    ca_file: Path

    def trusting(self) -> ssl.SSLContext:
        """What a device that was given the clinic CA's certificate checks the broker with."""
        return ssl.create_default_context(cafile=self.ca_file)


def certificates(folder: Path) -> Path:
    """The clinic CA and the server certificates for this machine, made in `folder` as `galvani certificates` does
    (kept when the folder has them already)."""
    if not (folder / "broker.pem").exists():
        make_certificates(folder, HOSTS)
    return folder


def add_user(password_file: Path, username: str, password: str) -> None:
    """Add or replace a user in a Mosquitto password file, made if it does not exist."""
    create = [] if password_file.exists() else ["-c"]
    subprocess.run(
        [mosquitto_program("mosquitto_passwd"), *create, "-b", str(password_file), username, password],  # noqa: S603
        check=True,
        capture_output=True,
    )


def local_config(tmp_path: Path, port: int, password_file: Path, tls_dir: Path, sys_interval: int | None = 1) -> Path:
    """The repository's config, with the container paths and the port moved to this test's own, and the TLS files
    taken from `tls_dir` under the names the config gives them; `sys_interval` None keeps the broker's default."""
    replacements = {
        "listener": f"listener {port} 127.0.0.1",
        "password_file": f"password_file {password_file}",
        "acl_file": f"acl_file {MOSQUITTO_ACL}",
        "persistence_location": f"persistence_location {tmp_path}/",
    }
    lines = []
    for line in MOSQUITTO_CONF.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key in TLS_FILES:
            replacements[key] = f"{key} {tls_dir / Path(value).name}"
        lines.append(replacements.pop(key, line))
    assert not replacements, f"mosquitto.conf no longer sets {sorted(replacements)}"
    missing = set(TLS_FILES) - {line.split(" ", 1)[0] for line in lines}
    assert not missing, f"mosquitto.conf no longer sets {sorted(missing)}"
    lines.append(same_user())
    if sys_interval is not None:
        lines.append(f"sys_interval {sys_interval}")  # $SYS every second, not every 10: the ACL test reads one
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


@contextmanager
def running(
    command: list[str],
    port: int,
    log_path: Path,
    env: dict[str, str] | None = None,
    start_timeout: float = BROKER_START_TIMEOUT_S,
) -> Iterator[_Process]:
    """Run `command`, logging to `log_path`, until it accepts connections on `port` (within `start_timeout`);
    terminate it at the end."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    try:
        _wait_until_accepting(process, port, log_path, start_timeout)
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
) -> Iterator[tuple[Broker, _Process]]:
    """Mosquitto on a free local port with the repository's config and ACL, and certificates in tmp_path/certs: the
    broker and its process. The users are added to tmp_path/passwd, which may already hold others."""
    port = free_port()
    password_file = tmp_path / "passwd"
    for username, password in users.items():
        add_user(password_file, username, password)
    certs = certificates(tmp_path / "certs")
    conf = local_config(tmp_path, port, password_file, certs, sys_interval)
    with running([mosquitto_program(), "-c", str(conf)], port, tmp_path / "mosquitto.log") as process:
        yield Broker(port, certs / "ca.pem"), process


def _wait_until_accepting(process: _Process, port: int, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"no listener after {timeout} s:\n{log_path.read_text()}")
        try:  # the pause between attempts doubles as the check that it has not exited
            returncode = process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"mosquitto exited with {returncode}; it refused the config:\n{log_path.read_text()}")


class BrokerClient:
    """A paho client whose connect, subscribe and publish wait for the broker's answer. It connects over TLS, trusting
    the clinic CA unless given another `tls`. Its client id is its username unless told otherwise; `persistent` keeps
    its session (clean_session=false), as a device does."""

    def __init__(
        self,
        broker: Broker,
        username: str,
        password: str,
        protocol: int = mqtt.MQTTv311,
        client_id: str | None = None,
        persistent: bool = False,
        tls: ssl.SSLContext | None = None,
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
        self._client.tls_set_context(tls or broker.trusting())
        self._client.connect("127.0.0.1", broker.port)  # the handshake: raises when the certificate is not trusted
        self._client.loop_start()
        reason = self._acks.get(timeout=MQTT_TIMEOUT_S)
        assert not reason.is_failure, f"{username} refused: {reason}"

    def subscribe(self, topic: str) -> None:
        _, mid = self._client.subscribe(topic, qos=1)
        assert self._acks.get(timeout=MQTT_TIMEOUT_S) == mid

    def publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1).wait_for_publish(timeout=MQTT_TIMEOUT_S)

    def next_message(self, timeout: float = MQTT_TIMEOUT_S) -> tuple[str, bytes]:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"{self.username} received nothing within {timeout} s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def clients(broker: Broker, users: dict[str, str]) -> Iterator[Callable[..., BrokerClient]]:
    """connect(username, ...) logs a BrokerClient in with its password from `users`; all are closed at the end."""
    with ExitStack() as opened:

        def connect(username: str, **options: Any) -> BrokerClient:
            client = BrokerClient(broker, username, users[username], **options)
            opened.callback(client.close)
            return client

        yield connect
