"""The production deployment: docker-compose.yml and the Mosquitto configuration it mounts.

The compose file is checked as data (no Docker needed). The Mosquitto files are also loaded by a real
Mosquitto 2 when one is installed, because a config it refuses or an ACL it reads differently from what
we meant only shows up there.
"""

import json
import os
import pwd
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from db.broker_passwords import hash_device_password, new_device_password
from db.models import Device, DeviceStatus, Room
from device_gateway.device_users import DeviceUsersFile
from tests.mqtt import same_user

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
MOSQUITTO_ACL = ROOT / "deploy" / "mosquitto" / "acl"

APP_SERVICES = ("migrate", "api", "gateway", "gateway-standby")
GATEWAYS = ("gateway", "gateway-standby")
# The broker names every client after its username (use_username_as_clientid), so each gateway logs in as a user of
# its own, named like its GALVANI_GATEWAY_ID, and so does the broker's health check: under a shared user each login
# would push the other off.
GATEWAY_USERS = ("galvani-gateway-a", "galvani-gateway-b")
GATEWAY_USER = GATEWAY_USERS[0]  # the gateway, where a test needs one
HEALTH_USER = "galvani-healthcheck"
GATEWAY_RULES = {
    "topic read clinic/v1/devices/+/+",
    "topic read $share/galvani/clinic/v1/devices/+/+",
    "topic write clinic/v1/devices/+/commands",
    "topic write clinic/v1/gateway/status",
    "topic read $SYS/broker/publish/messages/dropped",
}
# device-protocol.md: a device writes its own status, acks, events and telemetry, reads its own commands, and every
# client reads the gateway's status.
DEVICE_RULES = {
    "pattern write clinic/v1/devices/%u/status",
    "pattern write clinic/v1/devices/%u/acks",
    "pattern write clinic/v1/devices/%u/events",
    "pattern write clinic/v1/devices/%u/telemetry",
    "pattern read clinic/v1/devices/%u/commands",
    "pattern read clinic/v1/gateway/status",
}
# One compose interpolation and nothing else: ${NAME}, ${NAME:-default}, ${NAME:?message}, ...
INTERPOLATION = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(?::?[-?+][^}]*)?\}")
# scheme://user:password@host...; the password part may hold `?`, so urllib's split cannot be used.
URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@\s]+:(?P<password>.+)@[^@]+$")

# Debian and Ubuntu put the broker in /usr/sbin, which is not on every user's PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
MOSQUITTO = shutil.which("mosquitto", path=_SEARCH_PATH)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd", path=_SEARCH_PATH)
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None or MOSQUITTO_PASSWD is None,
    reason="needs the mosquitto and mosquitto_passwd binaries (Debian/Ubuntu: apt install mosquitto)",
)
BROKER_START_TIMEOUT_S = 10.0
_Process = subprocess.Popen[bytes]
MQTT_TIMEOUT_S = 5.0


# --- docker-compose.yml ---------------------------------------------------------------------------

def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _services() -> dict[str, Any]:
    return _compose()["services"]


def test_all_five_services_exist() -> None:
    assert {"postgres", "mosquitto", "migrate", "api", "gateway"} <= set(_services())


def test_app_services_share_one_build_and_environment() -> None:
    compose = _compose()
    shared = compose["x-galvani"]
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["build"] == shared["build"] == ".", name
        gateways_own = {"GALVANI_GATEWAY_ID", "GALVANI_MQTT_URL"} if name in GATEWAYS else set()
        own, common = ({key: value for key, value in environment.items() if key not in gateways_own}
                       for environment in (service["environment"], shared["environment"]))
        assert own == common, name
    environment = shared["environment"]
    assert environment["GALVANI_ENV"] == "production"
    assert environment["GALVANI_DATABASE_URL"].startswith("postgresql+psycopg://galvani:")
    # The api only checks that the broker answers, without logging in; each gateway logs in as itself.
    assert environment["GALVANI_MQTT_URL"] == "mqtt://mosquitto:1883"


def test_two_gateways_run_alike_each_with_its_own_identity() -> None:
    """One holds the lease and the other stands by: the same command, volume and health check, never the same
    identity (in the lease, and on the broker, where two clients with one id push each other off)."""
    services = _services()
    first, second = (services[name] for name in GATEWAYS)
    assert {first["environment"]["GALVANI_GATEWAY_ID"], second["environment"]["GALVANI_GATEWAY_ID"]} == {
        "galvani-gateway-a", "galvani-gateway-b"}
    for key in ("command", "volumes", "healthcheck", "depends_on"):
        assert first[key] == second[key], key


# mqtt://user:password@mosquitto:1883, the password being a compose interpolation (which may hold `?`).
GATEWAY_LOGIN = re.compile(r"^mqtt://(?P<user>[^:/@]+):(?P<password>.+)@mosquitto:1883$")


def test_each_gateway_logs_in_as_its_own_user_with_rights_and_a_password() -> None:
    """The broker takes a client's username as its client id: each gateway's user is its GALVANI_GATEWAY_ID, the acl
    gives that user the gateway's rules, and run.sh writes its password (every gateway in the file, not only these
    two, so a third one added without its account fails here)."""
    services = _services()
    gateways = {name: service for name, service in services.items() if service.get("command") == "galvani gateway"}
    assert set(gateways) == set(GATEWAYS)
    for name, gateway in gateways.items():
        environment = gateway["environment"]
        login = GATEWAY_LOGIN.match(environment["GALVANI_MQTT_URL"])
        assert login, name
        assert login["user"] == environment["GALVANI_GATEWAY_ID"], name
        assert login["password"] == "${GALVANI_GATEWAY_MQTT_PASSWORD:?set GALVANI_GATEWAY_MQTT_PASSWORD}", name
    gateway_ids = {gateway["environment"]["GALVANI_GATEWAY_ID"] for gateway in gateways.values()}
    assert gateway_ids == set(GATEWAY_USERS)
    assert services["mosquitto"]["environment"]["GALVANI_GATEWAY_USERS"].split() == list(GATEWAY_USERS)
    assert {user for user, rules in _acl_users().items() if rules == GATEWAY_RULES} == set(GATEWAY_USERS)


def test_each_app_service_runs_its_own_command() -> None:
    services = _services()
    assert services["migrate"]["command"] == "galvani migrate"
    assert services["api"]["command"] == "galvani api --host 0.0.0.0 --port 8000 --workers 4"
    assert services["gateway"]["command"] == "galvani gateway"
    assert services["migrate"]["restart"] == "no"  # a one-shot job, not a daemon


def _environment_values() -> Iterator[tuple[str, str, str]]:
    compose = _compose()
    sources = {"x-galvani": compose["x-galvani"], **compose["services"]}
    for owner, block in sources.items():
        environment = block.get("environment") or {}
        assert isinstance(environment, dict), f"{owner}: write environment as a mapping"
        for key, value in environment.items():
            yield owner, key, str(value)


def test_no_literal_secrets() -> None:
    checked = set()
    for owner, key, value in _environment_values():
        if any(word in key for word in ("PASSWORD", "SECRET")):
            assert INTERPOLATION.fullmatch(value), f"{owner}: {key} must come from ${{...}}, not the file"
            checked.add(key)
        url = URL_WITH_PASSWORD.match(value)
        if url:
            assert INTERPOLATION.fullmatch(url["password"]), f"{owner}: the password in {key} is literal"
            checked.add(key)
    assert {"POSTGRES_PASSWORD", "GALVANI_SECRET_KEY", "GALVANI_DATABASE_URL", "GALVANI_MQTT_URL"} <= checked


def test_api_and_gateway_start_after_the_migrations() -> None:
    services = _services()
    for name in ("api", *GATEWAYS):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["mosquitto"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_postgres_has_a_healthcheck() -> None:
    postgres = _services()["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert INTERPOLATION.fullmatch(postgres["environment"]["POSTGRES_PASSWORD"])


def test_api_healthcheck_asks_the_health_endpoint() -> None:
    check = " ".join(_services()["api"]["healthcheck"]["test"])
    assert "http://localhost:8000/health" in check
    assert "curl" not in check  # python:3.11-slim has none


def _healthcheck(service: str) -> list[str]:
    """The service's health check command, with compose's `$$` (a literal `$`) read as the container sees it."""
    test = _services()[service]["healthcheck"]["test"]
    for part in test:
        # Any other $ would be filled in by compose from the host's environment when it reads the file.
        assert "$" not in part.replace("$$", ""), f"{service}: write $ as $$ in the health check"
    return [part.replace("$$", "$") for part in test]


def test_gateway_healthcheck_runs_the_gateway_health_command() -> None:
    from galvani.cli import _parser, cmd_gateway_health

    assert _healthcheck("gateway") == ["CMD", "galvani", "gateway-health"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["galvani"] == "galvani.cli:main"
    assert _parser().parse_args(["gateway-health"]).command is cmd_gateway_health


def test_mosquitto_healthcheck_reads_the_uptime_as_a_user_of_its_own() -> None:
    mosquitto = _services()["mosquitto"]
    kind, command = _healthcheck("mosquitto")
    assert kind == "CMD-SHELL"  # a shell, to take the password from the container's environment
    words = shlex.split(command)
    assert words[0] == "mosquitto_sub"
    options = dict(zip(words[1::2], words[2::2], strict=False))
    # Not a gateway's user: the broker would name the check after it and push that gateway off every 10 s.
    assert options["-u"] == HEALTH_USER
    assert options["-P"] == "$GALVANI_GATEWAY_MQTT_PASSWORD"
    assert "GALVANI_GATEWAY_MQTT_PASSWORD" in mosquitto["environment"]
    # Its user may read the uptime, or the check would wait until its timeout; and nothing else.
    assert _acl_users()[HEALTH_USER] == {f"topic read {options['-t']}"}
    assert options["-C"] == "1"
    assert int(options["-W"]) < _seconds(mosquitto["healthcheck"]["timeout"])  # gives up before docker kills it


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def test_mosquitto_mounts_the_config_files_of_this_repository() -> None:
    compose = _compose()
    mounts = {}
    for volume in compose["services"]["mosquitto"]["volumes"]:
        source, target, *options = volume.split(":")
        mounts[target] = (source, options)
    for target, repo_file in [("/mosquitto/config/mosquitto.conf", MOSQUITTO_CONF),
                              ("/mosquitto/config/acl", MOSQUITTO_ACL)]:
        source, options = mounts[target]
        assert (ROOT / source).resolve() == repo_file, target
        assert repo_file.is_file(), repo_file
        assert options == ["ro"], target
    # The password file and the persistence database outlive the container.
    data_source, _ = mounts["/mosquitto/data"]
    assert data_source in compose["volumes"]


# --- mosquitto.conf and acl ------------------------------------------------------------------------

def _conf_lines(path: Path) -> list[str]:
    """Non-empty lines without comments (Mosquitto only has whole-line comments)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _mosquitto_options(path: Path = MOSQUITTO_CONF) -> dict[str, str]:
    options = {}
    for line in _conf_lines(path):
        key, _, value = line.partition(" ")
        assert key not in options, f"{key} is set twice"
        options[key] = value.strip()
    return options


def test_mosquitto_conf_locks_the_broker_and_keeps_messages() -> None:
    options = _mosquitto_options()
    assert options["listener"] == "1883"
    assert options["allow_anonymous"] == "false"
    # Where docker-compose.yml puts the ACL, and on the data volume the app writes passwords to.
    assert options["acl_file"] == "/mosquitto/config/acl"
    assert options["password_file"] == "/mosquitto/data/passwd"
    assert options["persistence"] == "true"
    assert options["persistence_location"] == "/mosquitto/data/"
    assert int(options["max_queued_messages"]) >= 100_000  # the default 1000 drops QoS 1 messages
    assert int(options["max_packet_size"]) > 64 * 1024  # device payloads go up to 64 KiB


def test_mosquitto_conf_makes_every_client_id_its_username() -> None:
    """device-protocol.md: the broker enforces client id = username, so that no one can connect under another
    device's client id and push it off."""
    lines = _conf_lines(MOSQUITTO_CONF)
    assert "use_username_as_clientid true" in lines
    # A listener option: before any `listener` line Mosquitto 2 would open a second listener on 1883 for it (and in
    # the container, where `listener 1883` already has that port, refuse to start).
    assert lines.index("use_username_as_clientid true") > lines.index("listener 1883")


def _acl_users() -> dict[str, set[str]]:
    """Each user of the acl and its `topic` lines."""
    users: dict[str, set[str]] = {}
    rules: set[str] | None = None
    for line in _conf_lines(MOSQUITTO_ACL):
        if line.startswith("user "):
            name = line.removeprefix("user ")
            assert name not in users, f"{name} appears twice"
            rules = users[name] = set()
        elif rules is not None:
            # Patterns apply to every client wherever they stand: after a user they would read as that user's.
            assert line.startswith("topic "), f"{line!r} after a user line"
            rules.add(line)
    return users


def test_acl_holds_the_device_rules_of_the_protocol() -> None:
    lines = _conf_lines(MOSQUITTO_ACL)
    # As in device-protocol.md, topic by topic: `pattern write clinic/v1/devices/%u/+` would also let a device
    # publish on its own commands topic, and its firmware obeys what arrives there.
    # device-protocol.md writes the gateway's status as `topic read ...`, but Mosquitto 2 applies `topic` lines
    # before the first `user` line to anonymous clients only, which are not allowed in at all: every device would
    # be refused the gateway's status. A pattern without %u/%c applies to every client.
    assert {line for line in lines if line.startswith("pattern ")} == DEVICE_RULES
    first_user = next(i for i, line in enumerate(lines) if line.startswith("user "))
    assert not [line for line in lines[:first_user] if line.startswith("topic ")]


def test_acl_gives_each_gateway_and_the_health_check_their_own_rules() -> None:
    assert _acl_users() == {**dict.fromkeys(GATEWAY_USERS, GATEWAY_RULES),
                            HEALTH_USER: {"topic read $SYS/broker/uptime"}}  # docker-compose.yml's health check


# --- a real Mosquitto 2 with these files ----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _add_user(password_file: Path, username: str, password: str) -> None:
    create = [] if password_file.exists() else ["-c"]
    subprocess.run([MOSQUITTO_PASSWD, *create, "-b", str(password_file), username, password],  # noqa: S603
                   check=True, capture_output=True)


def _local_config(tmp_path: Path, port: int, password_file: Path, sys_interval: int | None = 1) -> Path:
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
def _running(command: list[str], port: int, log_path: Path, env: dict[str, str] | None = None) -> Iterator[_Process]:
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
def _running_mosquitto(tmp_path: Path, users: dict[str, str],
                       sys_interval: int | None = 1) -> Iterator[tuple[int, _Process]]:
    """Mosquitto on a free local port with the repository's config and ACL: its port and process.
    The users are added to tmp_path/passwd, which may already hold others."""
    port = _free_port()
    password_file = tmp_path / "passwd"
    for username, password in users.items():
        _add_user(password_file, username, password)
    conf = _local_config(tmp_path, port, password_file, sys_interval)
    with _running([MOSQUITTO, "-c", str(conf)], port, tmp_path / "mosquitto.log") as process:  # type: ignore[list-item]
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


@needs_mosquitto
def test_mosquitto_2_accepts_the_config(tmp_path: Path) -> None:
    with _running_mosquitto(tmp_path, {GATEWAY_USER: "somepassword"}) as (port, process):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        assert process.poll() is None, "mosquitto stopped after accepting a connection"


class _Client:
    """A paho client whose connect, subscribe and publish wait for the broker's answer. Its client id is its username
    unless told otherwise; `persistent` keeps its session (clean_session=false), as a device does."""

    def __init__(self, port: int, username: str, password: str, protocol: int = mqtt.MQTTv311,
                 client_id: str | None = None, persistent: bool = False) -> None:
        self.username = username
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.dropped = threading.Event()  # the connection ended, by the broker or by close()
        self._acks: queue.Queue[Any] = queue.Queue()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or username,
                                   clean_session=False if persistent else None, protocol=protocol)
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
def _clients(port: int, users: dict[str, str]) -> Iterator[Callable[..., _Client]]:
    """connect(username, ...) logs a _Client in with its password from `users`; all are closed at the end."""
    with ExitStack() as clients:
        def connect(username: str, **options: Any) -> _Client:
            client = _Client(port, username, users[username], **options)
            clients.callback(client.close)
            return client

        yield connect


@needs_mosquitto
def test_mosquitto_enforces_the_acl(tmp_path: Path) -> None:
    """Each check of a refused message is followed by an allowed one from the same sender: a broker
    delivers in order, so had the first got through it would be the one received."""
    users = {GATEWAY_USER: "gateway-password", "device-a": "password-a", "device-b": "password-b"}
    with _running_mosquitto(tmp_path, users) as (port, _), _clients(port, users) as connect:
        gateway = connect(GATEWAY_USER, protocol=mqtt.MQTTv5)  # shared subscriptions are MQTT 5
        device_a, device_b = connect("device-a"), connect("device-b")
        gateway.subscribe("$share/galvani/clinic/v1/devices/+/+")
        device_a.subscribe("clinic/v1/devices/device-a/commands")
        device_a.subscribe("clinic/v1/gateway/status")
        device_b.subscribe("clinic/v1/devices/device-a/commands")  # not its own
        device_b.subscribe("clinic/v1/devices/device-b/commands")

        # Every device hears the gateway's status.
        gateway.publish("clinic/v1/gateway/status", b'{"v":1,"state":"online"}')
        assert device_a.next_message() == ("clinic/v1/gateway/status", b'{"v":1,"state":"online"}')

        # A device publishes under its own device_id only; the gateway hears it.
        device_a.publish("clinic/v1/devices/device-b/telemetry", b"posing as b")
        device_a.publish("clinic/v1/devices/device-a/telemetry", b"from a")
        assert gateway.next_message() == ("clinic/v1/devices/device-a/telemetry", b"from a")

        # A device receives its own commands, never another device's.
        gateway.publish("clinic/v1/devices/device-a/commands", b"for a")
        gateway.publish("clinic/v1/devices/device-b/commands", b"for b")
        assert device_a.next_message() == ("clinic/v1/devices/device-a/commands", b"for a")
        assert device_b.next_message() == ("clinic/v1/devices/device-b/commands", b"for b")

        # The gateway reads how many messages the broker dropped for a full queue (none here).
        gateway.subscribe("$SYS/broker/publish/messages/dropped")
        seen = [gateway.next_message() for _ in range(3)]  # after its own two commands (devices/+/+)
        assert seen[-1] == ("$SYS/broker/publish/messages/dropped", b"0")


@needs_mosquitto
def test_a_device_with_another_devices_client_id_does_not_push_it_off(tmp_path: Path) -> None:
    """Device A's own credentials with device B's client id: the broker takes A's username as the client id, so B
    keeps its connection, and a stop sent to it meanwhile reaches it."""
    users = {GATEWAY_USER: "gateway-password", "device-a": "password-a", "device-b": "password-b"}
    with _running_mosquitto(tmp_path, users) as (port, _), _clients(port, users) as connect:
        gateway = connect(GATEWAY_USER)
        device_b = connect("device-b", persistent=True)
        device_b.subscribe("clinic/v1/devices/device-b/commands")
        connect("device-a", client_id="device-b")  # let in: the password is right

        gateway.publish("clinic/v1/devices/device-b/commands", b'{"type":"stop"}')
        assert device_b.next_message() == ("clinic/v1/devices/device-b/commands", b'{"type":"stop"}')
        assert not device_b.dropped.is_set()


@needs_mosquitto
def test_two_gateways_are_connected_at_once(tmp_path: Path) -> None:
    """Each gateway under its own user: neither pushes the other off, and both hear every device."""
    users = {**dict.fromkeys(GATEWAY_USERS, "gateway-password"), "device-a": "password-a"}
    with _running_mosquitto(tmp_path, users) as (port, _), _clients(port, users) as connect:
        gateways = []
        for username in GATEWAY_USERS:  # each subscribed before the next logs in
            gateways.append(connect(username))
            gateways[-1].subscribe("clinic/v1/devices/+/+")
        connect("device-a").publish("clinic/v1/devices/device-a/telemetry", b"block")
        for gateway in gateways:
            assert gateway.next_message() == ("clinic/v1/devices/device-a/telemetry", b"block"), gateway.username
            assert not gateway.dropped.is_set(), gateway.username


@needs_mosquitto
def test_a_device_cannot_publish_on_its_own_commands_topic(tmp_path: Path) -> None:
    """Its firmware would obey the forged command. A broker delivers one sender's messages in order: had the forged
    command got through, the gateway and the device would each have received it before what follows it."""
    users = {GATEWAY_USER: "gateway-password", "device-a": "password-a"}
    with _running_mosquitto(tmp_path, users) as (port, _), _clients(port, users) as connect:
        gateway = connect(GATEWAY_USER)
        gateway.subscribe("clinic/v1/devices/+/+")
        device = connect("device-a", persistent=True)
        device.subscribe("clinic/v1/devices/device-a/commands")

        device.publish("clinic/v1/devices/device-a/commands", b"forged")
        device.publish("clinic/v1/devices/device-a/telemetry", b"block")
        assert gateway.next_message() == ("clinic/v1/devices/device-a/telemetry", b"block")
        gateway.publish("clinic/v1/devices/device-a/commands", b"from the gateway")
        assert device.next_message() == ("clinic/v1/devices/device-a/commands", b"from the gateway")


# --- deploy/mosquitto/run.sh: the broker's users follow the devices the gateway lists ----------------

RUN_SH = ROOT / "deploy" / "mosquitto" / "run.sh"


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    mounts = {}
    for volume in service["volumes"]:
        source, target, *options = volume.split(":")
        mounts[target] = (source, options)
    return mounts


def test_compose_shares_the_device_users_between_gateway_and_broker() -> None:
    compose = _compose()
    services = compose["services"]
    users_file = Path(compose["x-galvani"]["environment"]["GALVANI_DEVICE_USERS_FILE"])
    assert _mounts(services["gateway"])[str(users_file.parent)] == ("device-users", [])
    broker = _mounts(services["mosquitto"])
    assert broker["/mosquitto/users"] == ("device-users", ["ro"])
    assert broker["/mosquitto/run.sh"] == ("./deploy/mosquitto/run.sh", ["ro"])
    assert "device-users" in compose["volumes"]
    assert services["mosquitto"]["command"] == ["sh", "/mosquitto/run.sh"]
    assert f"/mosquitto/users/{users_file.name}" in RUN_SH.read_text()  # where run.sh looks by default


def _connects(port: int, username: str, password: str) -> bool:
    """Whether the broker accepts these credentials."""
    answers: queue.Queue[Any] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username)
    client.username_pw_set(username, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(reason)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return not answers.get(timeout=MQTT_TIMEOUT_S).is_failure
    finally:
        client.disconnect()
        client.loop_stop()


def _soon(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """run.sh looks at the devices file every CHECK_EVERY_S: ask again until it has, or time is up."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
    return True


def _device(db: Session, room: Room, device_id: str, password: str) -> Device:
    device = Device(device_id=device_id, serial=f"SN-{device_id}", room_id=room.id, probe_area_cm2=0.5,
                    mqtt_password_hash=hash_device_password(password), status=DeviceStatus.IN_SERVICE,
                    state="offline")
    db.add(device)
    db.commit()
    return device


@needs_mosquitto
def test_the_broker_lets_in_exactly_the_devices_the_gateway_lists(tmp_path: Path, db: Session,
                                                                  session_factory: sessionmaker[Session]) -> None:
    room = Room(name="Run.sh room")
    db.add(room)
    db.commit()
    first_password, second_password = new_device_password(), new_device_password()
    first = _device(db, room, "gd-first", first_password)
    users_file = tmp_path / "devices.passwd"
    device_users = DeviceUsersFile(users_file, session_factory)
    assert device_users.refresh()
    assert not device_users.refresh()  # nothing changed: not written again

    port = _free_port()
    password_file = tmp_path / "passwd"
    env = {**os.environ, "PATH": _SEARCH_PATH, "MOSQUITTO_CONFIG": str(_local_config(tmp_path, port, password_file)),
           "MOSQUITTO_PASSWORD_FILE": str(password_file), "GALVANI_DEVICE_USERS_FILE": str(users_file),
           "MOSQUITTO_USER": pwd.getpwuid(os.getuid()).pw_name, "CHECK_EVERY_S": "0.1",
           "GALVANI_GATEWAY_MQTT_PASSWORD": "gateway-password",
           "GALVANI_GATEWAY_USERS": _services()["mosquitto"]["environment"]["GALVANI_GATEWAY_USERS"]}
    with _running(["sh", str(RUN_SH)], port, tmp_path / "run.log", env):
        for user in (*GATEWAY_USERS, HEALTH_USER):  # every gateway and the health check, with the one password
            assert _connects(port, user, "gateway-password"), user
            assert not _connects(port, user, "not-the-password"), user
        assert _connects(port, "gd-first", first_password)  # Galvani's hash is one Mosquitto checks
        assert not _connects(port, "gd-first", second_password)
        gateway = _Client(port, GATEWAY_USER, "gateway-password")
        revoked = _Client(port, "gd-first", first_password)
        try:
            _device(db, room, "gd-second", second_password)  # registered while the broker runs
            first.status = DeviceStatus.REVOKED
            db.commit()
            assert device_users.refresh()
            assert _soon(lambda: _connects(port, "gd-second", second_password))
            assert not _connects(port, "gd-first", first_password)
            assert revoked.dropped.wait(MQTT_TIMEOUT_S)  # a revoked device is cut off at the reload
            assert not gateway.dropped.is_set()  # everyone else stays connected
        finally:
            gateway.close()
            revoked.close()
    with pytest.raises(OSError):  # stopping run.sh (docker stop sends TERM) stopped the broker too
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- the health checks in docker-compose.yml, run as written -----------------------------------------

MOSQUITTO_SUB = shutil.which("mosquitto_sub", path=_SEARCH_PATH)


def _check_broker(command: str, port: int, password: str) -> subprocess.CompletedProcess[str]:
    """The broker's health check as the container's shell runs it, with the port moved to this test's."""
    assert command.count(" -p 1883 ") == 1, command
    env = {"PATH": _SEARCH_PATH, "GALVANI_GATEWAY_MQTT_PASSWORD": password}
    return subprocess.run(["sh", "-c", command.replace(" -p 1883 ", f" -p {port} ")], env=env, capture_output=True,
                          text=True, timeout=10, check=False)


@needs_mosquitto
@pytest.mark.skipif(MOSQUITTO_SUB is None, reason="needs mosquitto_sub (Debian/Ubuntu: apt install mosquitto-clients)")
def test_the_mosquitto_healthcheck_passes_only_while_the_broker_lets_it_in(tmp_path: Path) -> None:
    _, command = _healthcheck("mosquitto")
    users = {HEALTH_USER: "gateway-password", GATEWAY_USER: "gateway-password"}
    # The broker's own $SYS interval (10 s), as in production: the uptime must come at once all the same.
    with _running_mosquitto(tmp_path, users, sys_interval=None) as (port, _):
        gateway = _Client(port, GATEWAY_USER, "gateway-password")
        try:
            started = time.monotonic()
            healthy = _check_broker(command, port, "gateway-password")
            assert healthy.returncode == 0, healthy.stderr
            assert healthy.stdout.strip().endswith("seconds")  # the uptime, shown by `docker inspect`
            assert time.monotonic() - started < 2
            assert _check_broker(command, port, "not-the-password").returncode != 0
            assert not gateway.dropped.wait(1)  # the check never pushes a gateway off
        finally:
            gateway.close()
    assert _check_broker(command, port, "gateway-password").returncode != 0  # the broker is gone


def test_the_gateway_healthcheck_command_reads_the_gateways_file(tmp_path: Path) -> None:
    _, *command = _healthcheck("gateway")
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "GALVANI_DATA_DIR": str(tmp_path)}  # the gateway's data folder, where it writes by default

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)

    assert check().returncode == 1  # no gateway has written anything
    written_at = datetime.now(UTC).isoformat()
    (tmp_path / "gateway-health.json").write_text(json.dumps(
        {"status": "ok", "role": "active", "problems": [], "written_at": written_at}))
    result = check()
    assert (result.returncode, result.stdout) == (0, "gateway ok (active)\n"), result.stderr


# --- galvani simulate on the production broker: each device logs in with its own password ------------

def _broker_with_devices(tmp_path: Path, devices: dict[str, str]) -> None:
    """Put the devices' users into the password file the way the gateway writes them (Galvani's hashes)."""
    (tmp_path / "passwd").write_text("".join(f"{device_id}:{hash_device_password(password)}\n"
                                             for device_id, password in devices.items()))


def _credentials_file(tmp_path: Path, devices: dict[str, str]) -> Path:
    path = tmp_path / "room-devices.txt"
    path.write_text("# device_id:password, as the API showed them at registration\n"
                    + "".join(f"{device_id}:{password}\n" for device_id, password in devices.items()))
    path.chmod(0o600)
    return path


def _simulate(port: int, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `galvani simulate ARGS` on this broker, with no database anywhere
    (connecting to one would fail)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")} | {
        "GALVANI_DATA_DIR": str(tmp_path / "data"), "GALVANI_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "GALVANI_DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{_free_port()}/nowhere"}
    return [sys.executable, "-m", "galvani.cli", "simulate", *args], env


def _next_status(gateway: _Client) -> tuple[str, dict[str, Any]]:
    topic, payload = gateway.next_message()
    return topic.split("/")[3], json.loads(payload)


@needs_mosquitto
def test_simulate_brings_devices_online_with_their_own_passwords(tmp_path: Path) -> None:
    devices = {"gd-room1": new_device_password(), "gd-room2": new_device_password()}
    _broker_with_devices(tmp_path, devices)
    with _running_mosquitto(tmp_path, {GATEWAY_USER: "gateway-password"}) as (port, _):
        gateway = _Client(port, GATEWAY_USER, "gateway-password")
        try:
            gateway.subscribe("clinic/v1/devices/+/status")
            command, env = _simulate(port, tmp_path, "--credentials", str(_credentials_file(tmp_path, devices)))
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                online = dict(_next_status(gateway) for _ in devices)
                assert {device_id: status["state"] for device_id, status in online.items()} == {
                    "gd-room1": "idle", "gd-room2": "idle"}
                process.send_signal(signal.SIGTERM)
                out, err = process.communicate(timeout=MQTT_TIMEOUT_S)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
            assert process.returncode == 0, err
            assert "simulating 2 devices" in out
            assert dict(_next_status(gateway) for _ in devices) == {
                device_id: {"v": 1, "state": "offline"} for device_id in devices}
        finally:
            gateway.close()


@needs_mosquitto
def test_simulate_with_a_wrong_password_says_so_and_fails(tmp_path: Path) -> None:
    _broker_with_devices(tmp_path, {"gd-room1": new_device_password()})
    credentials = _credentials_file(tmp_path, {"gd-room1": "not-the-password-it-was-given"})
    with _running_mosquitto(tmp_path, {GATEWAY_USER: "gateway-password"}) as (port, _):
        command, env = _simulate(port, tmp_path, "--credentials", str(credentials), "--connect-timeout", "2")
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    last_lines = result.stderr.strip().splitlines()[-2:]
    assert last_lines[0] == f"no device simulated: the broker at 127.0.0.1:{port} refused gd-room1 (Not authorized)"
    assert last_lines[1].startswith(f"check those devices' passwords in {credentials}")
    assert "Traceback" not in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr
