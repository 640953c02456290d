"""MQTT helpers for tests: where Mosquitto's programs are, a private Mosquitto, and a subscriber that waits for
messages."""

import os
import pwd
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.services import free_port, missing

WAIT_S = 10.0
# Debian and Ubuntu put the broker in /usr/sbin, which is not on every user's PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
SHIPPED_CONFIG = Path(__file__).parent.parent / "deploy" / "mosquitto" / "mosquitto.conf"
# What decides how the broker hands messages to the gateway: the tests' brokers have it as production has.
SHIPPED_LIMITS = ("max_inflight_messages", "max_queued_messages")


def shipped_limits() -> str:
    """Config lines of deploy/mosquitto/mosquitto.conf for SHIPPED_LIMITS; a test's own options come after them
    and win."""
    lines = SHIPPED_CONFIG.read_text().splitlines()
    return "".join(f"{line}\n" for line in lines if line.split(" ", 1)[0] in SHIPPED_LIMITS)


def mosquitto_program(name: str = "mosquitto") -> str:
    """The path of a Mosquitto program (the broker, mosquitto_passwd, mosquitto_sub): every test finds them here.
    When one is not installed (Debian/Ubuntu: the mosquitto and mosquitto-clients packages), fail on CI, skip
    elsewhere."""
    path = shutil.which(name, path=SEARCH_PATH)
    if path is None:
        missing(f"the {name} program")
    return path


def wait_for_port(host: str, port: int, timeout: float = WAIT_S) -> None:
    """Return once something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            time.sleep(0.02)  # polling a port: there is no event to await


def same_user() -> str:
    """A config line that keeps Mosquitto as the user who started it. Started as root, it switches to the user
    `mosquitto`, which cannot enter pytest's private tmp_path: it could neither read a password file there nor
    write its persistence database, and would lose every session and queued message at a restart, saying so
    only in its own log. As a normal user the option has no effect."""
    return f"user {pwd.getpwuid(os.getuid()).pw_name}"


@contextmanager
def private_mosquitto(tmp_path: Path, options: str = "") -> Iterator[int]:
    """A Mosquitto of our own on a free port, anonymous, for tests that must not share retained state;
    `options` are more lines of its config."""
    binary = mosquitto_program()
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{shipped_limits()}{options}"
    )
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port("127.0.0.1", port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=WAIT_S)
        if process.stderr:
            process.stderr.close()


class PersistentMosquitto:
    """A Mosquitto of our own that keeps sessions and queued messages on disk, and can be restarted."""

    def __init__(self, tmp_path: Path) -> None:
        binary = mosquitto_program()
        self.port = free_port()
        self.config = tmp_path / "persistent.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {tmp_path}/\nautosave_interval 1\n{same_user()}\n"
            f"{shipped_limits()}"
        )
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self._binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        """A clean stop: Mosquitto writes its sessions and queued messages to disk."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=WAIT_S)
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Subscriber:
    """Collects every message on the given topics; `next_payload` waits for the next one."""

    def __init__(self, port: int, *topics: str, host: str = "127.0.0.1") -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._subscribed = queue.Queue[bool]()
        self._topics = topics
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{free_port()}")
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in self._topics])
        self.client.on_subscribe = lambda *_: self._subscribed.put(True)
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.connect(host, port)
        self.client.loop_start()
        self._subscribed.get(timeout=WAIT_S)

    def next_payload(self, timeout: float = WAIT_S) -> bytes:
        return bytes(self.messages.get(timeout=timeout).payload)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
