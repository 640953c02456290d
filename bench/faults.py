"""Interlock stop latency under faults (issue 10): an over-current telemetry block → the interlock's `stop` for its
session, both as received by one independent MQTT subscriber (paho's message.timestamp, time.monotonic() taken as
each message is read: one clock). --sessions sessions per condition, one per room and simulated device:

  a. normal: PostgreSQL up, one gateway process (`python -m galvani.cli gateway`);
  b. database down: the private cluster stopped (fast) while the sessions treat, the over-current at once; again
     with the over-current --outage-s s into the outage; the database back 5 s after the over-current;
  c. after a broker restart mid-session, once the gateway, every device and the subscriber are back;
  d. failover: gateway-aN active, gateway-bN standby; gateway-aN killed (SIGKILL), an over-current right after;
     --rounds rounds, a fresh pair each; then normal running with the last standby in charge.

Ceiling, same run: a bare paho client in its own process sends each QoS 1 ping back as a pong through the same
Mosquitto, timed by the same subscriber. All private: a PostgreSQL cluster (tests/postgres_cluster.py), a
persistent Mosquitto (tests/mqtt.py) with the queue, in-flight and TCP_NODELAY lines of
deploy/mosquitto/mosquitto.conf, the API in process (TestClient), simulated devices in real time. Each session is
started through the API, armed by the gateway, started on its device (the rooms a second apart in all, so that
blocks and stops spread over each second); two blocks in, over_current_ua makes the device's next block 400 µA
against a cap of 220 µA. Each stop is checked (over_current, the block's session, that device's topic), and the
incidents and stop commands of each condition are counted in the database once it is up.

    .venv/bin/python bench/faults.py
    .venv/bin/python bench/faults.py --sessions 10 --rounds 3 --broker-option 'max_inflight_messages 0'
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ is not an installed package

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import paho.mqtt.client as mqtt
from common import LOOPBACK
from fastapi.testclient import TestClient
from paho.mqtt import __version__ as PAHO_VERSION
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from db.base import utcnow
from db.models import Appointment, AppointmentStatus, Device, DeviceCommand, GatewayPresence, Role, User
from db.models import SessionIncident as Incident
from db.models import TreatmentSession as Treatment
from db.session import make_engine, make_session_factory, transaction
from db.settings import Settings
from device_gateway import topics
from device_gateway.gateway import _send_small_packets_at_once
from device_gateway.lease import Lease
from device_gateway.simulator import SimulatedDevice, Simulator
from tests.api.clinic import DAY_OF, add_room, approved_protocol, due, new_client, ok
from tests.conftest import SECRET_KEY, add_user, bearer
from tests.device_gateway.conftest import eventually, gateway_is_present
from tests.factories import NOTHING
from tests.mqtt import PersistentMosquitto, Subscriber
from tests.postgres_cluster import PrivateCluster, private_cluster

ROOT = Path(__file__).resolve().parent.parent
CAP_UA = 220.0  # the protocol's 200 µA (tests.api.clinic.STEP) plus the clinic's 10 %
OVER_UA = 400.0
PING, PONG = "bench/faults/ping", "bench/faults/pong"
BROKER_LIMITS = ("max_queued_messages", "max_inflight_messages", "set_tcp_nodelay")
WAIT_S = 30.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30, help="sessions per condition, one per room and device")
    parser.add_argument("--rounds", type=int, default=5, help="failover rounds, each with a fresh pair of gateways")
    parser.add_argument("--outage-s", type=float, default=10.0, help="outage before the over-current in b's 2nd run")
    parser.add_argument("--pings", type=int, default=200, help="round trips measured for the ceiling")
    parser.add_argument(
        "--broker-option",
        action="append",
        default=[],
        metavar="LINE",
        help="a Mosquitto config line replacing the production one of that name, e.g. 'max_inflight_messages 0'",
    )
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy the gateways' logs into DIR")
    return parser.parse_args()


class Wire:
    """The independent subscriber: every device's telemetry and commands, and the ceiling's ping and pong."""

    def __init__(self, port: int) -> None:
        self.over: dict[str, tuple[float, str]] = {}  # session -> (receipt of its first block over the cap, device)
        self.over_blocks: Counter[str] = Counter()  # session -> blocks over the cap received before its stop
        self.blocks: Counter[str] = Counter()  # session -> blocks received
        self.heard: dict[str, float] = {}  # device -> receipt of its latest block
        self.stops: defaultdict[str, list[tuple[float, str, dict]]] = defaultdict(list)  # session -> stops
        self.echo: dict[str, dict[int, float]] = {PING: {}, PONG: {}}
        self._changed = threading.Condition()
        self.subscriber = Subscriber(
            port, topics.device_topic("+", "telemetry"), topics.device_topic("+", "commands"), PING, PONG
        )
        self.subscriber.client.on_message = self._on_message

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        at = message.timestamp
        with self._changed:
            self._changed.notify_all()
            if message.topic in self.echo:
                self.echo[message.topic][int(message.payload)] = at
                return
            device, leaf = message.topic.split("/")[3:5]
            body = json.loads(message.payload)
            session = body.get("session_id")
            if leaf == "commands":
                if body.get("type") == "stop":
                    self.stops[session].append((at, device, body))
                return
            self.blocks[session] += 1
            self.heard[device] = at
            if max(abs(sample) for sample in body["current_ua"]) > CAP_UA and not self.stops[session]:
                self.over.setdefault(session, (at, device))
                self.over_blocks[session] += 1

    def wait(self, check: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(check, timeout)

    def stopped(self, sessions: dict[str, "Room"]) -> set[str]:
        return {session for session in sessions if self.stops.get(session)}


@dataclass
class Row:
    name: str
    values_ms: list[float]
    missed: int = 0  # sessions without a right stop
    over_blocks: int = 0  # the most over-cap blocks one device sent before its stop reached the subscriber
    record: str = ""
    note: str = ""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank (with 30 values, p99 is the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else math.nan


def echo(port: int) -> None:
    """The ceiling's far end, in its own process as the gateway is: a QoS 1 message on PING back on PONG."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-faults-echo")
    client.on_connect = lambda c, *_: (_send_small_packets_at_once(c), c.subscribe(PING, 1))
    client.on_message = lambda c, _userdata, message: c.publish(PONG, message.payload, qos=1)
    client.connect(LOOPBACK, port)
    client.loop_forever()


def ceiling(wire: Wire, port: int, count: int, rng: random.Random) -> Row:
    """Ping → pong as the subscriber sees them, one at a time, 0-50 ms apart."""
    far_end = multiprocessing.get_context("spawn").Process(target=echo, args=(port,), daemon=True)
    far_end.start()
    pinger = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-faults-pinger")
    pinger.on_connect = lambda c, *_: _send_small_packets_at_once(c)
    pinger.connect(LOOPBACK, port)
    pinger.loop_start()
    try:
        for warmup in range(-1, -100, -1):  # until the far end answers
            pinger.publish(PING, str(warmup), qos=1)
            if wire.wait(lambda: bool(wire.echo[PONG]), 0.5):
                break
        for n in range(count):
            time.sleep(rng.uniform(0, 0.05))
            pinger.publish(PING, str(n), qos=1)
            wire.wait(lambda n=n: n in wire.echo[PONG], 5.0)
        values = [(at - wire.echo[PING][n]) * 1000 for n, at in wire.echo[PONG].items() if n >= 0]
        return Row("ceiling: broker round trip (ping → echo → pong)", values, count - len(values))
    finally:
        pinger.disconnect()
        pinger.loop_stop()
        far_end.terminate()


@dataclass
class Room:
    room_id: str
    mqtt_id: str
    client_id: str
    esthetician: User
    device: SimulatedDevice


class FaultRig:
    """The API in this process, the rooms with their simulated devices, and the subscriber."""

    def __init__(self, http: TestClient, factory: sessionmaker[Session], wire: Wire, count: int, port: int) -> None:
        self.http, self.factory, self.wire = http, factory, wire
        with transaction(factory) as db:
            self.headers = {role: bearer(add_user(db, role)) for role in Role}
            estheticians = [add_user(db, Role.ESTHETICIAN) for _ in range(count)]  # one per room booked at once
        self.protocol = approved_protocol(http, self.headers)["id"]  # one step: 200 µA for 300 s
        made = []
        for i, esthetician in enumerate(estheticians):
            room_id = add_room(http, self.headers[Role.ADMIN], name=f"Room {i + 1}")
            client_id = new_client(http, self.headers[Role.FRONT_DESK], name=f"Client{i + 1}")
            ok(
                http.post(
                    f"/api/v1/clients/{client_id}/screenings",
                    headers=self.headers[Role.ESTHETICIAN],
                    json={"answers": NOTHING},
                ),
                201,
            )
            with factory() as db:
                mqtt_id = str(db.scalar(select(Device.device_id).where(Device.room_id == uuid.UUID(room_id))))
            made.append((room_id, mqtt_id, client_id, esthetician))
        self.simulator = Simulator([(mqtt_id, None) for _, mqtt_id, _, _ in made], port=port)  # real time
        self.simulator.start()
        self.rooms = [Room(*room, device=self.simulator[room[1]]) for room in made]

    def device_states(self, rooms: list[Room], seen_after: datetime | None = None) -> set[str]:
        query = select(Device.state).where(Device.device_id.in_([room.mqtt_id for room in rooms]))
        if seen_after is not None:
            query = query.where(Device.last_seen_at > seen_after)
        with self.factory() as db:
            states = list(db.scalars(query))
        return set(states) if len(states) == len(rooms) else set()

    def counts(self, sessions: dict[str, Room]) -> tuple[Counter[str], Counter[str], Counter[str]]:
        """Incidents by kind, stop commands by status and sessions by status, as on record."""
        ids = [uuid.UUID(session) for session in sessions]
        with self.factory() as db:
            incidents = Counter(db.scalars(select(Incident.kind).where(Incident.session_id.in_(ids))))
            stops = Counter(
                map(
                    str,
                    db.scalars(
                        select(DeviceCommand.status).where(
                            DeviceCommand.session_id.in_(ids), DeviceCommand.kind == "stop"
                        )
                    ),
                )
            )
            statuses = Counter(map(str, db.scalars(select(Treatment.status).where(Treatment.id.in_(ids)))))
        return incidents, stops, statuses

    def treat(self, rooms: list[Room]) -> dict[str, Room]:
        """A session in each room: started through the API, armed by the gateway (and so watched by the interlock),
        started on the device a second apart in all, two blocks in."""
        eventually(lambda: self.device_states(rooms) == {"idle"}, timeout=WAIT_S)
        with transaction(self.factory) as db:  # the last condition's appointments in these rooms are over
            db.execute(
                update(Appointment)
                .where(
                    Appointment.room_id.in_([uuid.UUID(r.room_id) for r in rooms]),
                    Appointment.status == AppointmentStatus.BOOKED,
                )
                .values(status=AppointmentStatus.COMPLETED)
            )
        sessions = {}
        for room in rooms:
            with self.factory() as db:
                appointment = due(
                    db,
                    client_id=room.client_id,
                    protocol_id=self.protocol,
                    room_id=room.room_id,
                    esthetician=room.esthetician,
                )
            started = ok(
                self.http.post(
                    f"/api/v1/appointments/{appointment}/start",
                    headers=self.headers[Role.ESTHETICIAN],
                    json={"day_of": DAY_OF},
                ),
                201,
            )
            sessions[started["session_id"]] = room
        eventually(lambda: self.counts(sessions)[2]["armed"] == len(sessions), timeout=WAIT_S)
        for room in rooms:
            room.device.press_start()
            time.sleep(1 / len(rooms))
        if not self.wire.wait(lambda: all(self.wire.blocks[s] >= 2 for s in sessions), WAIT_S):
            raise RuntimeError("the sessions did not get going")
        return sessions

    def over_current(self, sessions: dict[str, Room], timeout: float = WAIT_S) -> bool:
        """From its next block on, every device of these sessions gives 400 µA; wait for their stops."""
        for room in sessions.values():
            room.device.over_current_ua = OVER_UA
        return self.wait_stops(sessions, timeout)

    def wait_stops(self, sessions: dict[str, Room], timeout: float = WAIT_S) -> bool:
        return self.wire.wait(lambda: len(self.wire.stopped(sessions)) == len(sessions), timeout)

    def row(self, name: str, sessions: dict[str, Room]) -> Row:
        """Each stop checked (over_current, the block's session and device, one command); then the record."""
        values, missed = [], 0
        for session, room in sessions.items():
            room.device.wait_idle(WAIT_S)  # the device obeyed
            room.device.over_current_ua = None
            over, stops = self.wire.over.get(session), self.wire.stops.get(session, [])
            right = [
                at
                for at, device, body in stops
                if body.get("reason") == "over_current" and device == room.mqtt_id and body.get("session_id") == session
            ]
            if over is None or over[1] != room.mqtt_id or not right or len({b["command_id"] for *_, b in stops}) > 1:
                missed += 1
                continue
            values.append((right[0] - over[0]) * 1000)

        def complete() -> bool:
            incidents, stops, statuses = self.counts(sessions)
            return incidents["over_current"] == stops["executed"] == statuses["stopped"] == len(sessions)

        with contextlib.suppress(TimeoutError):  # what is on record is shown as it is
            eventually(complete, timeout=10.0)
        incidents, stops, statuses = self.counts(sessions)
        record = f"incidents {dict(incidents)}; stop commands {dict(stops)}; sessions {dict(statuses)}"
        return Row(name, values, missed, max(self.wire.over_blocks[s] for s in sessions), record)


def normal(clinic: FaultRig, name: str) -> Row:
    sessions = clinic.treat(clinic.rooms)
    clinic.over_current(sessions)
    return clinic.row(name, sessions)


def database_down(clinic: FaultRig, cluster: PrivateCluster, outage_s: float) -> Row:
    """The cluster stopped while the sessions treat; outage_s later, over-current; the database back 5 s after."""
    sessions = clinic.treat(clinic.rooms)
    down = time.monotonic()
    cluster.stop()
    time.sleep(outage_s)
    clinic.over_current(sessions, timeout=5.0)
    early = clinic.wire.stopped(sessions)
    cluster.start()
    back = time.monotonic()
    clinic.wait_stops(sessions)
    eventually(lambda: clinic.counts(sessions)[0]["over_current"] == len(sessions), timeout=WAIT_S)
    recorded = time.monotonic() - back
    into = {s: clinic.wire.over[s][0] - down for s in sessions if s in clinic.wire.over}
    when = f"{outage_s:g} s into the outage" if outage_s else "at once"
    row = clinic.row(f"database down, over-current {when}", sessions)
    late = [t for s, t in into.items() if s not in early]
    slowest = [(clinic.wire.stops[s][0][0] - clinic.wire.over[s][0]) * 1000 for s in early]
    row.note = (
        f"{len(early)} of {len(sessions)} stops reached the devices during the {back - down:.1f} s outage"
        + (f", the slowest {max(slowest):.1f} ms after its block" if slowest else "")
        + f" (over-current blocks {min(into.values()):.1f}-{max(into.values()):.1f} s into it"
        + (f"; the first not stopped before the database was back came {min(late):.1f} s in)" if late else ")")
        + f"; incidents on record {recorded:.1f} s after the database was back"
    )
    return row


def broker_restart(clinic: FaultRig, mosquitto: PersistentMosquitto) -> Row:
    sessions = clinic.treat(clinic.rooms)
    before = utcnow()
    mosquitto.restart()  # Mosquitto sends every device's Last Will as it shuts down
    back = time.monotonic()
    eventually(lambda: all(room.device.online.is_set() for room in clinic.rooms), timeout=WAIT_S)
    if not clinic.wire.wait(lambda: all(clinic.wire.heard.get(r.mqtt_id, 0) > back for r in clinic.rooms), WAIT_S):
        raise RuntimeError("the subscriber does not hear every device again")
    eventually(
        lambda: (
            gateway_is_present(clinic.factory) and clinic.device_states(clinic.rooms, seen_after=before) == {"treating"}
        ),
        timeout=WAIT_S,
    )
    ready = time.monotonic() - back
    clinic.over_current(sessions)
    row = clinic.row("after a broker restart", sessions)
    row.note = f"the gateway, every device (stored as treating again) and the subscriber back {ready:.1f} s after it"
    return row


class Gateways:
    """`galvani gateway` processes, each with its own id, data directory and log."""

    def __init__(self, run: Path, database_url: str, port: int, factory: sessionmaker[Session]) -> None:
        self.run, self.port, self.factory = run, port, factory
        self.env = os.environ | {
            "GALVANI_DATABASE_URL": database_url,
            "GALVANI_MQTT_URL": f"mqtt://{LOOPBACK}:{port}",
            "GALVANI_LOG_LEVEL": "WARNING",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, gateway_id: str, role: str) -> None:
        """Start one and wait until it says it is connected in that role."""
        folder = self.run / gateway_id
        folder.mkdir()
        with (folder / "gateway.log").open("wb") as log:
            self.processes[gateway_id] = subprocess.Popen(
                [sys.executable, "-m", "galvani.cli", "gateway"],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env | {"GALVANI_DATA_DIR": str(folder), "GALVANI_GATEWAY_ID": gateway_id},
            )
        eventually(lambda: self.role(gateway_id) == role, timeout=WAIT_S)

    def role(self, gateway_id: str) -> str | None:
        with self.factory() as db:
            presence = db.get(GatewayPresence, gateway_id)
            return presence.role if presence is not None and presence.connected else None

    def end(self, gateway_id: str, sig: int = signal.SIGTERM) -> None:
        """Stop one (SIGTERM hands the lease over) or kill it; then end its broker session, which would otherwise
        queue every device message for it."""
        self.processes[gateway_id].send_signal(sig)
        self.processes[gateway_id].wait(WAIT_S)
        forget = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=gateway_id, clean_session=True)
        connected = threading.Event()
        forget.on_connect = lambda *_: connected.set()
        forget.connect(LOOPBACK, self.port)
        forget.loop_start()
        connected.wait(WAIT_S)
        forget.disconnect()
        forget.loop_stop()

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(WAIT_S)


def failover(clinic: FaultRig, gateways: Gateways, rounds: int) -> list[Row]:
    """Each round a fresh active/standby pair and a session treating; the active one killed, an over-current at once."""
    kill_to_stop: list[float] = []
    took_over: list[float] = []
    gateway_status: list[str] = []  # clinic/v1/gateway/status as the device saw it once stopped
    lease = Lease(clinic.factory, "bench-faults")  # only to read who holds it
    sessions: dict[str, Room] = {}
    for r in range(1, rounds + 1):
        gateways.start(f"gateway-a{r}", "active")
        gateways.start(f"gateway-b{r}", "standby")
        this = clinic.treat([clinic.rooms[(r - 1) % len(clinic.rooms)]])
        gateways.processes[f"gateway-a{r}"].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        clinic.over_current(this, timeout=0)  # its next block, within a second, is over the cap
        eventually(lambda r=r: lease.holder_now() == f"gateway-b{r}", timeout=WAIT_S)  # polled every 20 ms
        took_over.append((time.monotonic() - killed) * 1000)
        if clinic.wait_stops(this):
            kill_to_stop.append((clinic.wire.stops[next(iter(this))][0][0] - killed) * 1000)
        device = next(iter(this.values())).device
        device.wait_idle(WAIT_S)
        gateway_status.append({True: "online", False: "offline"}.get(device.gateway_online, "unknown"))
        gateways.end(f"gateway-a{r}", signal.SIGKILL)
        sessions |= this
        if r < rounds:
            gateways.end(f"gateway-b{r}")
    blocks = clinic.row("failover: over-current block → stop", sessions)
    killed_row = Row(
        "failover: SIGKILL of the active gateway → stop",
        kill_to_stop,
        rounds - len(kill_to_stop),
        blocks.over_blocks,
        blocks.record,
    )
    killed_row.note = (
        "per round, SIGKILL → the standby holds the lease / → stop, ms: "
        + ", ".join(f"{a:.0f} / {b:.0f}" for a, b in zip(took_over, kill_to_stop, strict=False))
        + f"; the gateway status the device had once stopped: {dict(Counter(gateway_status))}"
    )
    blocks.record = "(as above)"
    return [killed_row, blocks, normal(clinic, f"normal, gateway-b{rounds} in charge after the takeover")]


def print_machine(engine: Engine, limits: list[str]) -> None:
    with engine.connect() as conn:
        postgres = conn.scalar(text("SHOW server_version"))
    mosquitto = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(
        f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}, PostgreSQL {postgres}, {mosquitto}, "
        f"paho-mqtt {PAHO_VERSION}, {platform.platform()}; load average {os.getloadavg()[0]:.2f}\n"
        f"command: {shlex.join(sys.orig_argv)}\ncode: {head.strip()}\n"
        f"broker: private persistent Mosquitto, anonymous, {'; '.join(limits)}",
        flush=True,
    )


def print_rows(rows: list[Row], logs: list[Path]) -> None:
    print("\n| condition | n | p50 ms | p95 ms | p99 ms | max ms | missed | over-cap blocks before the stop (most) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        figures = " | ".join(f"{percentile(row.values_ms, p):.1f}" for p in (0.5, 0.95, 0.99, 1.0))
        print(f"| {row.name} | {len(row.values_ms)} | {figures} | {row.missed} | {row.over_blocks or '-'} |")
    print()
    for row in rows:
        for line in (row.note, row.record and f"on record: {row.record}"):
            if line:
                print(f"{row.name}: {line}")
    print("\ngateway logs, warnings and errors other than interlock stops:")
    for log in logs:
        lines = [
            line.split(": ", 1)[-1][:90]
            for line in log.read_text(errors="replace").splitlines()
            if any(level in line for level in ("WARNING", "ERROR", "CRITICAL", "Traceback"))
            and "interlock: stopping session" not in line
        ]
        print(f"  {log.parent.name}: {dict(Counter(lines)) or 'none'}")


def progress(row: Row, began: float) -> Row:
    print(
        f"  {row.name}: p50 {percentile(row.values_ms, 0.5):.1f} ms, max {percentile(row.values_ms, 1.0):.1f} ms, "
        f"missed {row.missed}; {time.monotonic() - began:.0f} s in",
        flush=True,
    )
    return row


def main() -> None:
    args = parse_args()
    began = time.monotonic()
    lines = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text().splitlines()
    replaced = {option.split()[0] for option in args.broker_option}
    limits = [line.strip() for line in lines if line.split(" ", 1)[0] in set(BROKER_LIMITS) - replaced]
    limits += args.broker_option
    with tempfile.TemporaryDirectory(prefix="galvani-bench-faults-") as name, private_cluster() as cluster:
        run = Path(name)
        mosquitto = PersistentMosquitto(run)
        with mosquitto.config.open("a") as config:
            config.write("\n".join(limits) + "\n")
        mosquitto.start()
        engine = make_engine(cluster.url)
        factory = make_session_factory(engine)
        print_machine(engine, limits)
        gateways = Gateways(run, cluster.url, mosquitto.port, factory)
        wire = Wire(mosquitto.port)
        clinic: FaultRig | None = None
        settings = Settings(data_dir=run, database_url=cluster.url, secret_key=SECRET_KEY, mqtt_url=None)
        try:
            with TestClient(create_app(settings, factory)) as http:
                rows = [progress(ceiling(wire, mosquitto.port, args.pings, random.Random(10)), began)]
                gateways.start("gateway-main", "active")
                clinic = FaultRig(http, factory, wire, args.sessions, mosquitto.port)
                rows.append(progress(normal(clinic, "normal: PostgreSQL up, one gateway"), began))
                rows.append(progress(database_down(clinic, cluster, 0.0), began))
                rows.append(progress(database_down(clinic, cluster, args.outage_s), began))
                rows.append(progress(broker_restart(clinic, mosquitto), began))
                gateways.end("gateway-main")
                rows += [progress(row, began) for row in failover(clinic, gateways, args.rounds)]
        finally:
            if clinic is not None:
                clinic.simulator.stop()
            wire.subscriber.close()
            gateways.close()
            logs = sorted(run.glob("*/gateway.log"))
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in logs:
                    shutil.copy(log, args.keep_logs / f"{log.parent.name}.log")
            mosquitto.stop()
            engine.dispose()
        print_rows(rows, logs)
    print(f"\nrun time: {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
