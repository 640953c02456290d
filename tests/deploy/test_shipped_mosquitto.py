"""The shipped Mosquitto configuration and ACL (deploy/mosquitto/), as data and loaded by a real Mosquitto 2, because
a config it refuses or an ACL it reads differently from what we meant only shows up there; with run.sh, the broker's
health check as docker-compose.yml writes it, and `galvani simulate` logging in to it. Every client connects over
TLS, as the shipped broker has no other way in (test_shipped_tls.py: how TLS itself is held to)."""

import json
import os
import pwd
import queue
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.broker_passwords import hash_device_password, new_device_password
from db.models import Device, DeviceStatus, Room
from device_gateway.device_users import DeviceUsersFile
from tests.deploy import shipped
from tests.deploy.broker import (
    MQTT_TIMEOUT_S,
    Broker,
    BrokerClient,
    certificates,
    clients,
    local_config,
    running,
    running_mosquitto,
)
from tests.deploy.shipped import (
    GATEWAY_RULES,
    GATEWAY_USER,
    GATEWAY_USERS,
    HEALTH_USER,
    MOSQUITTO_ACL,
    MOSQUITTO_CONF,
    RUN_SH,
)
from tests.mqtt import SEARCH_PATH, mosquitto_program
from tests.services import free_port

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


@pytest.fixture
def mosquitto_programs() -> None:
    """The broker and mosquitto_passwd, which these tests run: fail on CI, skip elsewhere when one is missing."""
    for name in ("mosquitto", "mosquitto_passwd"):
        mosquitto_program(name)


@pytest.fixture
def mosquitto_sub() -> None:
    """The client the broker's health check runs (Debian/Ubuntu: mosquitto-clients)."""
    mosquitto_program("mosquitto_sub")


needs_mosquitto = pytest.mark.usefixtures("mosquitto_programs")


# --- mosquitto.conf and acl, as data ----------------------------------------------------------------


def _mosquitto_options(path: Path = MOSQUITTO_CONF) -> dict[str, str]:
    options = {}
    for line in shipped.conf_lines(path):
        key, _, value = line.partition(" ")
        assert key not in options, f"{key} is set twice"
        options[key] = value.strip()
    return options


def test_mosquitto_conf_locks_the_broker_and_keeps_messages() -> None:
    options = _mosquitto_options()
    assert options["listener"] == "8883"  # TLS: test_shipped_tls.py
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
    lines = shipped.conf_lines(MOSQUITTO_CONF)
    assert "use_username_as_clientid true" in lines
    # A listener option: before any `listener` line Mosquitto 2 would open a second listener, on 1883 and without TLS,
    # for it.
    assert lines.index("use_username_as_clientid true") > lines.index("listener 8883")


def test_acl_holds_the_device_rules_of_the_protocol() -> None:
    lines = shipped.conf_lines(MOSQUITTO_ACL)
    # As in device-protocol.md, topic by topic: `pattern write clinic/v1/devices/%u/+` would also let a device
    # publish on its own commands topic, and its firmware obeys what arrives there.
    # device-protocol.md writes the gateway's status as `topic read ...`, but Mosquitto 2 applies `topic` lines
    # before the first `user` line to anonymous clients only, which are not allowed in at all: every device would
    # be refused the gateway's status. A pattern without %u/%c applies to every client.
    assert {line for line in lines if line.startswith("pattern ")} == DEVICE_RULES
    first_user = next(i for i, line in enumerate(lines) if line.startswith("user "))
    assert not [line for line in lines[:first_user] if line.startswith("topic ")]


def test_acl_gives_each_gateway_and_the_health_check_their_own_rules() -> None:
    assert shipped.acl_users() == {
        **dict.fromkeys(GATEWAY_USERS, GATEWAY_RULES),
        HEALTH_USER: {"topic read $SYS/broker/uptime"},
    }  # docker-compose.yml's health check


# --- a real Mosquitto 2 with these files ----------------------------------------------------------


@needs_mosquitto
def test_mosquitto_2_accepts_the_config(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path, {GATEWAY_USER: "somepassword"}) as (broker, process):
        socket.create_connection(("127.0.0.1", broker.port), timeout=1).close()
        assert process.poll() is None, "mosquitto stopped after accepting a connection"


@needs_mosquitto
def test_mosquitto_enforces_the_acl(tmp_path: Path) -> None:
    """Each check of a refused message is followed by an allowed one from the same sender: a broker
    delivers in order, so had the first got through it would be the one received."""
    users = {GATEWAY_USER: "gateway-password", "device-a": "password-a", "device-b": "password-b"}
    with running_mosquitto(tmp_path, users) as (broker, _), clients(broker, users) as connect:
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
    with running_mosquitto(tmp_path, users) as (broker, _), clients(broker, users) as connect:
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
    with running_mosquitto(tmp_path, users) as (broker, _), clients(broker, users) as connect:
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
    with running_mosquitto(tmp_path, users) as (broker, _), clients(broker, users) as connect:
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


def _connects(broker: Broker, username: str, password: str) -> bool:
    """Whether the broker accepts these credentials."""
    answers: queue.Queue[Any] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username)
    client.username_pw_set(username, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(reason)
    client.tls_set_context(broker.trusting())
    client.connect("127.0.0.1", broker.port)
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
    device = Device(
        device_id=device_id,
        serial=f"SN-{device_id}",
        room_id=room.id,
        probe_area_cm2=0.5,
        mqtt_password_hash=hash_device_password(password),
        status=DeviceStatus.IN_SERVICE,
        state="offline",
    )
    db.add(device)
    db.commit()
    return device


@needs_mosquitto
def test_the_broker_lets_in_exactly_the_devices_the_gateway_lists(
    tmp_path: Path, db: Session, session_factory: sessionmaker[Session]
) -> None:
    room = Room(name="Run.sh room")
    db.add(room)
    db.commit()
    first_password, second_password = new_device_password(), new_device_password()
    first = _device(db, room, "gd-first", first_password)
    users_file = tmp_path / "devices.passwd"
    device_users = DeviceUsersFile(users_file, session_factory)
    assert device_users.refresh()
    assert not device_users.refresh()  # nothing changed: not written again

    port = free_port()
    password_file = tmp_path / "passwd"
    certs, tls_dir = certificates(tmp_path / "certs"), tmp_path / "tls"  # the mounted files, the broker's copies
    broker = Broker(port, certs / "ca.pem")
    env = {
        **os.environ,
        "PATH": SEARCH_PATH,
        "MOSQUITTO_CONFIG": str(local_config(tmp_path, port, password_file, tls_dir)),
        "MOSQUITTO_PASSWORD_FILE": str(password_file),
        "MOSQUITTO_CERTS_DIR": str(certs),
        "MOSQUITTO_TLS_DIR": str(tls_dir),
        "GALVANI_DEVICE_USERS_FILE": str(users_file),
        "MOSQUITTO_USER": pwd.getpwuid(os.getuid()).pw_name,
        "CHECK_EVERY_S": "0.1",
        "GALVANI_GATEWAY_MQTT_PASSWORD": "gateway-password",
        "GALVANI_GATEWAY_USERS": shipped.services()["mosquitto"]["environment"]["GALVANI_GATEWAY_USERS"],
    }
    with running(["sh", str(RUN_SH)], port, tmp_path / "run.log", env):
        # The broker's own copies of its TLS files: the key as private as the one it was copied from.
        assert {path.name: path.stat().st_mode & 0o777 for path in tls_dir.iterdir()} == {
            "ca.pem": 0o600,
            "broker.pem": 0o600,
            "broker-key.pem": 0o600,
        }
        for user in (*GATEWAY_USERS, HEALTH_USER):  # every gateway and the health check, with the one password
            assert _connects(broker, user, "gateway-password"), user
            assert not _connects(broker, user, "not-the-password"), user
        assert _connects(broker, "gd-first", first_password)  # Galvani's hash is one Mosquitto checks
        assert not _connects(broker, "gd-first", second_password)
        gateway = BrokerClient(broker, GATEWAY_USER, "gateway-password")
        revoked = BrokerClient(broker, "gd-first", first_password)
        try:
            _device(db, room, "gd-second", second_password)  # registered while the broker runs
            first.status = DeviceStatus.REVOKED
            db.commit()
            assert device_users.refresh()
            assert _soon(lambda: _connects(broker, "gd-second", second_password))
            assert not _connects(broker, "gd-first", first_password)  # and the reload kept TLS working
            assert revoked.dropped.wait(MQTT_TIMEOUT_S)  # a revoked device is cut off at the reload
            assert not gateway.dropped.is_set()  # everyone else stays connected
        finally:
            gateway.close()
            revoked.close()
    with pytest.raises(OSError):  # stopping run.sh (docker stop sends TERM) stopped the broker too
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- the broker's health check in docker-compose.yml, run as written ----------------------------------


def _check_broker(command: str, broker: Broker, password: str) -> subprocess.CompletedProcess[str]:
    """The broker's health check as the container's shell runs it, with the port, the CA's path and the broker's name
    moved to this test's (its certificate names localhost: `mosquitto` is only known inside compose's network)."""
    moves = {
        " -p 8883 ": f" -p {broker.port} ",
        " -h mosquitto ": " -h localhost ",
        " --cafile /mosquitto/certs/ca.pem ": f" --cafile {broker.ca_file} ",
    }
    for old, new in moves.items():
        assert command.count(old) == 1, (old, command)
        command = command.replace(old, new)
    env = {"PATH": SEARCH_PATH, "GALVANI_GATEWAY_MQTT_PASSWORD": password}
    return subprocess.run(
        ["sh", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


@needs_mosquitto
@pytest.mark.usefixtures("mosquitto_sub")
def test_the_mosquitto_healthcheck_passes_only_while_the_broker_lets_it_in(tmp_path: Path) -> None:
    _, command = shipped.healthcheck("mosquitto")
    users = {HEALTH_USER: "gateway-password", GATEWAY_USER: "gateway-password"}
    # The broker's own $SYS interval (10 s), as in production: the uptime must come at once all the same.
    with running_mosquitto(tmp_path, users, sys_interval=None) as (broker, _):
        gateway = BrokerClient(broker, GATEWAY_USER, "gateway-password")
        try:
            started = time.monotonic()
            healthy = _check_broker(command, broker, "gateway-password")
            assert healthy.returncode == 0, healthy.stderr
            assert healthy.stdout.strip().endswith("seconds")  # the uptime, shown by `docker inspect`
            assert time.monotonic() - started < 2
            assert _check_broker(command, broker, "not-the-password").returncode != 0
            assert not gateway.dropped.wait(1)  # the check never pushes a gateway off
        finally:
            gateway.close()
    assert _check_broker(command, broker, "gateway-password").returncode != 0  # the broker is gone


# --- galvani simulate on the production broker: each device logs in with its own password ------------


def _broker_with_devices(tmp_path: Path, devices: dict[str, str]) -> None:
    """Put the devices' users into the password file the way the gateway writes them (Galvani's hashes)."""
    (tmp_path / "passwd").write_text(
        "".join(f"{device_id}:{hash_device_password(password)}\n" for device_id, password in devices.items())
    )


def _credentials_file(tmp_path: Path, devices: dict[str, str]) -> Path:
    path = tmp_path / "room-devices.txt"
    path.write_text(
        "# device_id:password, as the API showed them at registration\n"
        + "".join(f"{device_id}:{password}\n" for device_id, password in devices.items())
    )
    path.chmod(0o600)
    return path


SIMULATE_START_S = 30.0


def _simulate(broker: Broker, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `galvani simulate ARGS` on this broker, over TLS, with no database
    anywhere (connecting to one would fail)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")} | {
        "GALVANI_DATA_DIR": str(tmp_path / "data"),
        "GALVANI_MQTT_URL": f"mqtts://127.0.0.1:{broker.port}",
        "GALVANI_MQTT_CA_FILE": str(broker.ca_file),
        "GALVANI_DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nowhere",
    }
    return [sys.executable, "-m", "galvani.cli", "simulate", *args], env


def _next_status(gateway: BrokerClient, timeout: float = MQTT_TIMEOUT_S) -> tuple[str, dict[str, Any]]:
    topic, payload = gateway.next_message(timeout)
    return topic.split("/")[3], json.loads(payload)


@needs_mosquitto
def test_simulate_brings_devices_online_with_their_own_passwords(tmp_path: Path) -> None:
    devices = {"gd-room1": new_device_password(), "gd-room2": new_device_password()}
    _broker_with_devices(tmp_path, devices)
    with running_mosquitto(tmp_path, {GATEWAY_USER: "gateway-password"}) as (broker, _):
        gateway = BrokerClient(broker, GATEWAY_USER, "gateway-password")
        try:
            gateway.subscribe("clinic/v1/devices/+/status")
            command, env = _simulate(broker, tmp_path, "--credentials", str(_credentials_file(tmp_path, devices)))
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                # The first statuses wait for the command to start, which takes seconds on a busy machine.
                online = dict(_next_status(gateway, timeout=SIMULATE_START_S) for _ in devices)
                assert {device_id: status["state"] for device_id, status in online.items()} == {
                    "gd-room1": "idle",
                    "gd-room2": "idle",
                }
                process.send_signal(signal.SIGTERM)
                out, err = process.communicate(timeout=MQTT_TIMEOUT_S)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
            assert process.returncode == 0, err
            assert "simulating 2 devices" in out
            assert dict(_next_status(gateway) for _ in devices) == {
                device_id: {"v": 1, "state": "offline"} for device_id in devices
            }
        finally:
            gateway.close()


@needs_mosquitto
def test_simulate_with_a_wrong_password_says_so_and_fails(tmp_path: Path) -> None:
    _broker_with_devices(tmp_path, {"gd-room1": new_device_password()})
    credentials = _credentials_file(tmp_path, {"gd-room1": "not-the-password-it-was-given"})
    with running_mosquitto(tmp_path, {GATEWAY_USER: "gateway-password"}) as (broker, _):
        command, env = _simulate(broker, tmp_path, "--credentials", str(credentials), "--connect-timeout", "2")
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    last_lines = result.stderr.strip().splitlines()[-2:]
    assert last_lines[0] == (
        f"no device simulated: the broker at 127.0.0.1:{broker.port} refused gd-room1 (Not authorized)"
    )
    assert last_lines[1].startswith(f"check those devices' passwords in {credentials}")
    assert "Traceback" not in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr
