"""Device gateway benchmark (issue 5): broker ceiling, telemetry ingest, start and interlock latencies.

Everything runs in one go on a private Mosquitto (started here on a free port, with the queue, in-flight and
packet limits of deploy/mosquitto/mosquitto.conf; anonymous and without persistence) and a recreated
PostgreSQL database `galvani_bench_gateway`, which is left in place afterwards:

1. Broker ceiling: 1, 2 and 3 publisher processes (paho, QoS 1, a telemetry block as payload) → Mosquitto →
   one paho subscriber process (QoS 1), no database. Messages/s received over a steady window; the best of
   the three is the ceiling.
2. Ingest: the real gateway (`python -m galvani.cli gateway`, its own process) stores telemetry that
   load-generator processes publish for N device ids, each with a treating session that exists in the
   database, at 1 block (10 samples) a second per device, as real devices do. N grows (200, 400, 800, …,
   12,800) until the stored rate falls below 95 % of the published rate. Then five bursts, each between two
   ceilings (as in 1, with its best number of publishers): 200 devices publish a backlog as fast as the
   broker takes it, and the stored rate over its middle 80 % is what the gateway can take at most. Each
   burst is compared with the mean of the ceilings just before and just after it, as this machine's speed
   drifts by a third from one minute to the next; the median of the five ratios is the figure.
   At the end every published (device, session, seq) must be stored exactly once.
3. Start: POST /api/v1/appointments/{id}/start on the real API (uvicorn, its own process) until
   load_protocol arrives on the device's commands topic, over appointments due now, each with its own
   screened client and its own room whose device reported itself idle.
4. Interlock: a telemetry block above the cap, published for an armed session, until stop arrives on the
   device's commands topic; once with the gateway otherwise idle (the sessions armed in 3), once while 200
   devices stream telemetry.

The stand-in devices of 3 and 4 are one paho client in this process that answers commands the way
device_gateway/simulator.py does (ack, status, a `stopped` event); the ingest load generator publishes
valid blocks without simulating sessions, filled into a template so that it costs per message what the
ceiling's publisher does (both share the two cores with what they measure). CPU is read from /proc (% of one
core). Where the latency went is split by the timestamps the API and the gateway write (device_commands,
session_messages.received_at).

    .venv/bin/python bench/gateway.py
    .venv/bin/python bench/gateway.py --levels 200,400,800 --level-seconds 10 --starts 50 --stops 50
"""

import argparse
import contextlib
import ctypes
import functools
import http.client
import json
import math
import multiprocessing as mp
import os
import platform
import random
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from common import LOOPBACK, bench_url, free_port, int_list, postgres_version, recreate_database
from paho.mqtt import __version__ as PAHO_VERSION
from sqlalchemy import Engine, create_engine, insert, text

from api.security import create_access_token, hash_password
from db.migrate import upgrade
from db.models import (
    Appointment,
    AppointmentStatus,
    Device,
    DeviceStatus,
    Role,
    Room,
    Series,
    SessionStatus,
    TreatmentSession,
    User,
)
from device_gateway import topics
from device_gateway.simulated_session import BLOCK_SAMPLES, SAMPLE_INTERVAL_MS, sample_currents

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "galvani_bench_gateway"
BENCH_URL = bench_url(BENCH_DB)
PRODUCTION_BROKER_CONFIG = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
BROKER_LIMITS = ("max_queued_messages", "max_inflight_messages", "max_packet_size", "set_tcp_nodelay")
READY_TIMEOUT_S = 30.0
WAIT_S = 10.0
KEEP_UP = 0.95  # a level keeps up while the stored rate is at least this share of the published rate
MAX_OUTSTANDING = 1000  # QoS 1 publishes a load-generator process has in flight before it waits for PUBACKs
DRAIN_TIMEOUT_S = 60.0
BURST_S = 10.0  # the burst is sized to last about this long at the best rate seen while paced
STEP_CURRENT_UA = 200
OVER_CURRENT_UA = 400.0
TOLERANCE = 1.10  # the clinic's default 10 %
STEP = {
    "zone": "cheeks",
    "mode": "LIFT",
    "current_ua": STEP_CURRENT_UA,
    "frequency_hz": 30,
    "waveform": "square",
    "polarity": "alternating",
    "duration_s": 300,
}
STEPS = [STEP, STEP | {"zone": "jawline"}]  # the longest protocol allowed: 600 s, so max_output_s is 660
MAX_CURRENT_UA = round(STEP_CURRENT_UA * TOLERANCE, 1)
MAX_OUTPUT_S = math.ceil(sum(step["duration_s"] for step in STEPS) * TOLERANCE)  # type: ignore[misc]
NO_ANSWERS: dict[str, Any] = {
    "implanted_electronic_device": False,
    "epilepsy": False,
    "pregnant": False,
    "active_cancer": False,
    "skin_infection": False,
    "recent_facial_surgery": False,
    "body_worn_electronics": False,
    "retinol_last_used_on": None,
    "prescription_retinoid_last_used_on": None,
    "chemical_peel_last_on": None,
    "laser_last_on": None,
    "isotretinoin_last_on": None,
    "botox_last_on": None,
    "filler_last_on": None,
    "botox_zones": [],
    "filler_zones": [],
    "metal_implant_zones": [],
}
DAY_OF = {
    key: NO_ANSWERS[key]
    for key in (
        "pregnant",
        "skin_infection",
        "retinol_last_used_on",
        "prescription_retinoid_last_used_on",
        "chemical_peel_last_on",
        "laser_last_on",
        "isotretinoin_last_on",
        "botox_last_on",
        "filler_last_on",
    )
}
WARMUP_STARTS = 3  # starts (and their interlock stops) made first and left out of the percentiles
CLK_TCK = os.sysconf("SC_CLK_TCK")
WALL_OFFSET = time.time() - time.perf_counter()  # perf_counter + this = wall time, as the database records it


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--levels",
        type=int_list,
        default=[200, 400, 800, 1600, 3200, 4800, 6400, 8000, 9600, 12800],
        help="device counts for paced ingest, tried in order until one falls behind",
    )
    parser.add_argument("--rate", type=float, default=1.0, help="telemetry blocks per second per device")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds at the start of a level")
    parser.add_argument("--level-seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--publishers", type=int, default=2, help="load-generator processes for ingest")
    parser.add_argument(
        "--raw-publishers",
        type=int_list,
        default=[1, 2, 3],
        help="publisher processes for the ceiling, each count measured; the best is the ceiling",
    )
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="measured seconds of the ceiling")
    parser.add_argument("--burst-devices", type=int, default=200, help="devices in the burst")
    parser.add_argument(
        "--rounds", type=int, default=5, help="bursts, each between two ceilings: the machine's speed drifts"
    )
    parser.add_argument("--starts", type=int, default=100, help="measured session starts")
    parser.add_argument("--stops", type=int, default=100, help="measured interlock stops under load")
    parser.add_argument(
        "--keep-logs",
        type=Path,
        metavar="DIR",
        help="copy the gateway's, the API's and the broker's logs into DIR at the end",
    )
    parser.add_argument("--seed", type=int, default=5)
    return parser.parse_args()


# --- small helpers ----------------------------------------------------------------------------------------


def wait_for_port(port: int, timeout: float = READY_TIMEOUT_S) -> None:
    """Return once something accepts TCP connections on the port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {LOOPBACK}:{port}") from None
            time.sleep(0.02)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (NaN when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


BLOCK_FORMAT = (
    '{"v":1,"session_id":"%s","seq":%d,"step":0,"t_ms":%d,"interval_ms":'
    + str(SAMPLE_INTERVAL_MS)
    + ',"current_ua":%s,"contact":true}'
)


def telemetry_block(session_id: str, seq: int, current_ua: float = STEP_CURRENT_UA) -> bytes:
    """A valid telemetry block of 10 samples, byte for byte as device_gateway/simulator.py sends it (seq 1 is
    t_ms 0). Filled into a template, so that the load generator costs no more per message than the ceiling's
    publisher, which sends one payload made in advance: both leave the same CPU to the receiving side."""
    first = (seq - 1) * BLOCK_SAMPLES
    return (BLOCK_FORMAT % (session_id, seq, first * SAMPLE_INTERVAL_MS, samples_json(seq, current_ua))).encode()


@functools.cache
def samples_json(seq: int, current_ua: float) -> str:
    return json.dumps(sample_currents(current_ua, (seq - 1) * BLOCK_SAMPLES, BLOCK_SAMPLES), separators=(",", ":"))


def new_client(client_id: str, clean_session: bool = True) -> mqtt.Client:
    return mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session, protocol=mqtt.MQTTv311
    )


# --- CPU from /proc ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, every process of every user included."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class CpuSnapshot:
    at: float
    groups: dict[str, dict[int, float]]
    machine: tuple[float, float]


class CpuMeter:
    """Named groups of processes; PostgreSQL is this database's backends plus the shared writers."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine
        self.groups: dict[str, list[int]] = {}

    def snapshot(self) -> CpuSnapshot:
        pids = dict(self.groups)
        if self.engine is not None:
            with self.engine.connect() as conn:
                pids["postgres"] = list(
                    conn.scalars(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (datname = :db OR "
                            "backend_type IN ('walwriter', 'checkpointer', 'background writer'))"
                        ),
                        {"db": BENCH_DB},
                    )
                )
        return CpuSnapshot(
            time.monotonic(),
            {name: {pid: cpu_seconds(pid) for pid in group} for name, group in pids.items()},
            machine_busy(),
        )

    @staticmethod
    def percent(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, float]:
        """% of one core per group between two snapshots, and the whole machine's % of all its cores."""
        seconds = end.at - start.at
        result = {
            name: 100 * sum(cpu - start.groups.get(name, {}).get(pid, 0.0) for pid, cpu in group.items()) / seconds
            for name, group in end.groups.items()
        }
        busy = end.machine[0] - start.machine[0]
        total = end.machine[1] - start.machine[1]
        result["machine"] = 100 * busy / total if total else math.nan
        return result


# --- processes this benchmark starts ----------------------------------------------------------------------


def broker_limits() -> list[str]:
    """The production broker's queue, in-flight and packet limits and TCP_NODELAY, read from its config."""
    lines = [line.strip() for line in PRODUCTION_BROKER_CONFIG.read_text().splitlines()]
    return [line for line in lines if line.split(" ", 1)[0] in BROKER_LIMITS]


def start_mosquitto(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """Our own Mosquitto on a free port: production limits, anonymous, no persistence."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    config = tmp / "mosquitto.conf"
    config.write_text(
        "\n".join([f"listener {port} {LOOPBACK}", "allow_anonymous true", "persistence false", *broker_limits()]) + "\n"
    )
    with (tmp / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )  # its own process group: stop_process ends it
    wait_for_port(port)
    return process


def code_version() -> str:
    """The commit measured, and any uncommitted change to the service's code (read-only git)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "api", "db", "device_gateway", "galvani"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head or '?'}" + (f" with uncommitted changes to {', '.join(changed)}" if changed else "")


def mosquitto_version() -> str:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    out = subprocess.run([binary, "-h"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].replace("mosquitto version ", "") if out else "?"


def service_env(tmp: Path, port: int, secret_key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GALVANI_DATABASE_URL": BENCH_URL,
            "GALVANI_MQTT_URL": f"mqtt://{LOOPBACK}:{port}",
            "GALVANI_DATA_DIR": str(tmp / "data"),
            "GALVANI_SECRET_KEY": secret_key,
            "GALVANI_CLINIC_TIMEZONE": "UTC",
            "GALVANI_LOG_LEVEL": "WARNING",
        }
    )
    return env


def start_process(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A service in its own process group, output to `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM to its process group (a graceful stop), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_http(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(OSError):
            if Http(port).request("GET", "/health")[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the API did not answer /health:\n{log_path.read_text()}")


class Http:
    """One keep-alive loopback connection with JSON bodies; opened again after a pause, before uvicorn's
    keep-alive timeout (5 s) can close it under a request."""

    IDLE_S = 2.0

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        self.used = time.monotonic()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        if time.monotonic() - self.used > self.IDLE_S:
            self.conn.close()  # the next request connects again
        self.used = time.monotonic()
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any, headers: dict[str, str], status: int = 201) -> Any:
        got, answer = self.request(method, path, body, headers)
        if got != status:
            raise RuntimeError(f"{method} {path}: {got} {answer}")
        return answer


# --- load-generator processes -----------------------------------------------------------------------------


def publisher_process(port: int, index: int, acked: Any, jobs: Connection) -> None:
    """A load generator: one paho client; runs the jobs it is sent, answers each with what it published.

    The client runs in this one thread (no loop_start): publish() writes to the socket at once and loop()
    reads the PUBACKs, which more than doubles what a process can publish. `acked` counts the PUBACKs this
    process has had, across all jobs: the main process reads it live.
    """
    client = new_client(f"bench-pub-{index}-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(MAX_OUTSTANDING)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()

    def on_publish(*_: Any) -> None:
        acked.value += 1

    client.on_publish = on_publish
    client.connect(LOOPBACK, port, keepalive=30)
    deadline = time.monotonic() + WAIT_S
    while not connected.is_set() and time.monotonic() < deadline:
        client.loop(0.05)
    jobs.send("ready")
    sent_total = 0
    while True:
        while not jobs.poll(0):
            client.loop(0.2)  # keepalive while idle
        if (job := jobs.recv()) is None:
            break
        sent_total = run_job(client, job, acked, sent_total)
        deadline = time.monotonic() + 30
        while acked.value < sent_total and time.monotonic() < deadline:
            client.loop(0.01)
        jobs.send({"sent": job["sent"], "acked_all": acked.value >= sent_total})
    client.disconnect()


def run_job(client: mqtt.Client, job: dict[str, Any], acked: Any, sent_total: int) -> int:
    """Publish a job: raw (as fast as PUBACKs allow, for `seconds`), paced (`rate` blocks/s per device for
    `seconds`) or burst (`blocks` per device as fast as PUBACKs allow). Sets job['sent'] per device."""
    devices: list[tuple[str, str, int]] = job["devices"]  # (mqtt id, session id, first seq)
    n = len(devices)
    raw_payload: bytes | None = job.get("raw_payload")
    paced = raw_payload is None and bool(job.get("rate"))
    start_at: float = job["start_at"]
    end_at = start_at + job["seconds"] if raw_payload is not None else math.inf
    if raw_payload is not None:
        total = sys.maxsize
    elif paced:
        total = int(job["seconds"] * job["rate"] * n)
    else:
        total = job["blocks"] * n
    while time.monotonic() < start_at:
        client.loop(min(0.01, max(0.0, start_at - time.monotonic())))
    sent = 0
    while sent < total:
        now = time.monotonic()
        if now >= end_at:
            break
        due = min(total, int((now - start_at) * job["rate"] * n)) if paced else total
        room = MAX_OUTSTANDING - (sent_total - acked.value)
        if sent >= due or room <= 0:
            client.loop(0.001)
            continue
        for _ in range(min(due - sent, 100, room)):
            if raw_payload is not None:
                client.publish(f"bench/raw/{sent % 100}/telemetry", raw_payload, qos=1)
            else:
                mqtt_id, session_id, first_seq = devices[sent % n]
                block = telemetry_block(session_id, first_seq + sent // n)
                client.publish(topics.device_topic(mqtt_id, "telemetry"), block, qos=1)
            sent += 1
            sent_total += 1
        client.loop(0)
    job["sent"] = [sent // n + (1 if d < sent % n else 0) for d in range(n)] if n else [sent]
    return sent_total


def subscriber_process(port: int, received: Any, ready: Any) -> None:
    """The ceiling's receiver: one paho client, QoS 1, counting what arrives."""
    client = new_client(f"bench-sub-{uuid.uuid4().hex[:6]}")

    def on_message(*_: Any) -> None:
        received.value += 1

    client.on_connect = lambda c, *_: c.subscribe("bench/raw/#", qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = on_message
    client.connect(LOOPBACK, port, keepalive=30)
    client.loop_forever()


@dataclass
class Publishers:
    """The load-generator processes, their live PUBACK counters and their job pipes."""

    processes: list[mp.process.BaseProcess]
    counters: list[Any]
    pipes: list[Connection]

    @classmethod
    def spawn(cls, count: int, port: int) -> "Publishers":
        ctx = mp.get_context("spawn")
        processes, counters, pipes = [], [], []
        for index in range(count):
            counter = ctx.Value(ctypes.c_longlong, 0, lock=False)
            mine, theirs = ctx.Pipe()
            process = ctx.Process(target=publisher_process, args=(port, index, counter, theirs), daemon=True)
            process.start()
            processes.append(process)
            counters.append(counter)  # type: ignore[arg-type]
            pipes.append(mine)
        for pipe in pipes:
            if not pipe.poll(READY_TIMEOUT_S) or pipe.recv() != "ready":
                raise RuntimeError("a load generator did not connect")
        return cls(processes, counters, pipes)

    def acked(self) -> int:
        return sum(counter.value for counter in self.counters)

    def pids(self, count: int | None = None) -> list[int]:
        return [p.pid for p in self.processes[:count] if p.pid is not None]

    def send(self, jobs: list[dict[str, Any]]) -> None:
        for pipe, job in zip(self.pipes, jobs, strict=False):
            pipe.send(job)

    def collect(self, count: int) -> list[dict[str, Any]]:
        results = []
        for pipe in self.pipes[:count]:
            if not pipe.poll(120):
                raise RuntimeError("a load generator did not finish its job")
            results.append(pipe.recv())
        return results

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


# --- 1. the broker ceiling --------------------------------------------------------------------------------


@dataclass
class RawResult:
    publishers: int
    payload_bytes: int
    published_per_s: float
    received_per_s: float
    cpu: dict[str, float]


def measure_raw(port: int, broker_pid: int, publishers: Publishers, count: int, seconds: float) -> RawResult:
    """Publishers flat out → Mosquitto → one QoS 1 subscriber; the subscriber's rate over a steady window."""
    ctx = mp.get_context("spawn")
    received = ctx.Value(ctypes.c_longlong, 0, lock=False)
    ready = ctx.Event()
    subscriber = ctx.Process(target=subscriber_process, args=(port, received, ready), daemon=True)
    subscriber.start()
    try:
        if not ready.wait(READY_TIMEOUT_S):
            raise RuntimeError("the ceiling's subscriber did not subscribe")
        meter = CpuMeter()
        assert subscriber.pid is not None
        meter.groups = {"broker": [broker_pid], "publishers": publishers.pids(count), "subscriber": [subscriber.pid]}
        payload = telemetry_block(str(uuid.uuid4()), 7)
        warmup = 1.5
        start_at = time.monotonic() + 0.5
        publishers.send(
            [{"devices": [], "raw_payload": payload, "start_at": start_at, "seconds": warmup + seconds + 0.5}] * count
        )
        time.sleep(max(0.0, start_at + warmup - time.monotonic()))
        cpu0, received0, acked0 = meter.snapshot(), received.value, publishers.acked()
        time.sleep(seconds)
        cpu1, received1, acked1 = meter.snapshot(), received.value, publishers.acked()
        publishers.collect(count)
        elapsed = cpu1.at - cpu0.at
        return RawResult(
            count,
            len(payload),
            (acked1 - acked0) / elapsed,
            (received1 - received0) / elapsed,
            CpuMeter.percent(cpu0, cpu1),
        )
    finally:
        subscriber.terminate()
        subscriber.join(timeout=10)


# --- the database -----------------------------------------------------------------------------------------


@dataclass
class Staff:
    medical_director: uuid.UUID
    front_desk: uuid.UUID
    esthetician: uuid.UUID
    appointment_estheticians: list[uuid.UUID]  # one per appointment due now: they overlap in time


def add_staff(engine: Engine, appointments_due: int) -> Staff:
    password_hash = hash_password(secrets.token_urlsafe(16))  # nobody logs in: the tokens are signed here
    ids = {role: uuid.uuid4() for role in (Role.MEDICAL_DIRECTOR, Role.FRONT_DESK, Role.ESTHETICIAN)}
    extra = [uuid.uuid4() for _ in range(appointments_due)]
    rows = [
        {
            "id": user_id,
            "email": f"bench.{role.value}@example.com",
            "full_name": f"Bench {role.value}",
            "role": role,
            "password_hash": password_hash,
        }
        for role, user_id in ids.items()
    ]
    rows += [
        {
            "id": user_id,
            "email": f"bench.esthetician.{i}@example.com",
            "full_name": f"Esthetician {i}",
            "role": Role.ESTHETICIAN,
            "password_hash": password_hash,
        }
        for i, user_id in enumerate(extra)
    ]
    with engine.begin() as conn:
        conn.execute(insert(User), rows)
    return Staff(ids[Role.MEDICAL_DIRECTOR], ids[Role.FRONT_DESK], ids[Role.ESTHETICIAN], extra)


def add_rooms(engine: Engine, prefix: str, count: int) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """`count` rooms, each with one device in service: (room id, device row id, device_id)."""
    made = [(uuid.uuid4(), uuid.uuid4(), f"{prefix}-{i:05d}") for i in range(count)]
    with engine.begin() as conn:
        conn.execute(insert(Room), [{"id": room, "name": f"{mqtt_id} room"} for room, _, mqtt_id in made])
        conn.execute(
            insert(Device),
            [
                {
                    "id": device,
                    "device_id": mqtt_id,
                    "serial": f"SN-{mqtt_id}",
                    "room_id": room,
                    "probe_area_cm2": 0.5,
                    "mqtt_password_hash": "unused",
                    "status": DeviceStatus.IN_SERVICE,
                    "state": "offline",
                }
                for room, device, mqtt_id in made
            ],
        )
    return made


def add_appointments(
    engine: Engine,
    rooms: list[tuple[uuid.UUID, uuid.UUID, str]],
    *,
    client_ids: list[uuid.UUID],
    protocol_id: uuid.UUID,
    estheticians: list[uuid.UUID],
    starts: list[datetime],
    created_by: uuid.UUID,
) -> list[uuid.UUID]:
    """One booked appointment (in a series of its own) per room, written straight to the tables."""
    series_rows, appointment_rows = [], []
    for (room, device, _), client, esthetician, start in zip(rooms, client_ids, estheticians, starts, strict=True):
        series_id = uuid.uuid4()
        series_rows.append(
            {
                "id": series_id,
                "client_id": client,
                "protocol_id": protocol_id,
                "esthetician_id": esthetician,
                "room_id": room,
                "plan": {},
                "created_by_id": created_by,
            }
        )
        end = start + timedelta(minutes=35)
        appointment_rows.append(
            {
                "id": uuid.uuid4(),
                "series_id": series_id,
                "sequence": 1,
                "client_id": client,
                "protocol_id": protocol_id,
                "esthetician_id": esthetician,
                "room_id": room,
                "device_id": device,
                "start_at": start,
                "end_at": end,
                "occupied_until": end,
                "status": AppointmentStatus.BOOKED,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Series), series_rows)
        conn.execute(insert(Appointment), appointment_rows)
    return [row["id"] for row in appointment_rows]


def add_sessions(
    engine: Engine,
    rooms: list[tuple[uuid.UUID, uuid.UUID, str]],
    appointments: list[uuid.UUID],
    *,
    protocol_id: uuid.UUID,
    status: SessionStatus,
    created_by: uuid.UUID,
) -> list[str]:
    """A session in progress per appointment, with the limits the API would have given it."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "appointment_id": appointment,
            "device_id": device,
            "protocol_id": protocol_id,
            "steps": STEPS,
            "status": status,
            "max_current_ua": MAX_CURRENT_UA,
            "max_output_s": MAX_OUTPUT_S,
            "tolerance_percent": round((TOLERANCE - 1) * 100),
            "day_of": DAY_OF,
            "created_by_id": created_by,
            "armed_at": now,
            "started_at": now if status == SessionStatus.TREATING else None,
        }
        for (_, device, _), appointment in zip(rooms, appointments, strict=True)
    ]
    with engine.begin() as conn:
        conn.execute(insert(TreatmentSession), rows)
    return [str(row["id"]) for row in rows]


# --- stand-in devices for starts and stops ----------------------------------------------------------------


class StandInDevices:
    """One paho client answering for many device ids: records every command with its arrival time and
    answers it as the simulator does (load_protocol: accepted, status armed; stop: executed, a `stopped`
    event, status idle). Also publishes their status and session messages."""

    def __init__(self, port: int) -> None:
        self.gateway_online = threading.Event()
        self.arrivals: dict[tuple[str, str], float] = {}  # (device_id, command type) -> first arrival
        self.command_counts: Counter[str] = Counter()
        self.sessions: dict[str, str] = {}  # device_id -> session_id it was armed for
        self._seq: Counter[str] = Counter()  # session_id -> last seq sent
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self.client = new_client(f"bench-devices-{uuid.uuid4().hex[:6]}")
        self.client.max_inflight_messages_set(MAX_OUTSTANDING)
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(topics.device_topic("+", "commands"), 1), (topics.GATEWAY_STATUS, 1)]
        )
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(LOOPBACK, port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(WAIT_S):
            raise RuntimeError("the stand-in devices did not subscribe")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        arrived = time.perf_counter()
        body = json.loads(message.payload)
        if message.topic == topics.GATEWAY_STATUS:
            if body.get("state") == "online":
                self.gateway_online.set()
            return
        device_id, kind, session_id = message.topic.split("/")[3], body["type"], body.get("session_id")
        with self._lock:
            self.command_counts[kind] += 1
            if kind == "load_protocol":
                self.sessions.setdefault(device_id, session_id)
            self.arrivals.setdefault((device_id, kind), arrived)
            self._lock.notify_all()
        self.publish(
            device_id,
            "acks",
            {
                "command_id": body["command_id"],
                "status": "accepted" if kind == "load_protocol" else "executed",
                "reason": None,
            },
        )
        if kind == "load_protocol":
            self.status(device_id, "armed", session_id)
        else:
            self.event(device_id, session_id, "stopped")
            self.status(device_id, "idle")

    def wait_for(self, device_id: str, kind: str, timeout: float = WAIT_S) -> float | None:
        """When the first command of that kind reached the device (perf_counter), or None after timeout."""
        with self._lock:
            self._lock.wait_for(lambda: (device_id, kind) in self.arrivals, timeout)
            return self.arrivals.get((device_id, kind))

    def publish(self, device_id: str, leaf: str, fields: dict[str, Any], retain: bool = False) -> None:
        self.client.publish(topics.device_topic(device_id, leaf), compact({"v": 1, **fields}), qos=1, retain=retain)

    def status(self, device_id: str, state: str, session_id: str | None = None) -> None:
        self.publish(
            device_id,
            "status",
            {
                "state": state,
                "session_id": session_id,
                "firmware": "bench",
                "probe_area_cm2": 0.5,
                "max_current_ua": 600,
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            },
            retain=True,
        )

    def next_seq(self, session_id: str) -> int:
        with self._lock:
            self._seq[session_id] += 1
            return self._seq[session_id]

    def event(self, device_id: str, session_id: str, kind: str) -> None:
        self.publish(
            device_id,
            "events",
            {
                "session_id": session_id,
                "seq": self.next_seq(session_id),
                "type": kind,
                "step": None,
                "t_ms": 0,
                "detail": None,
            },
        )

    def over_current(self, device_id: str, session_id: str) -> float:
        """Start output, then send a block above the cap; returns when it was handed to paho."""
        self.event(device_id, session_id, "started")
        payload = telemetry_block(session_id, self.next_seq(session_id), OVER_CURRENT_UA)
        sent = time.perf_counter()
        self.client.publish(topics.device_topic(device_id, "telemetry"), payload, qos=1)
        return sent


# --- 2. ingest --------------------------------------------------------------------------------------------


@dataclass
class Burst:
    messages: int
    published_per_s: float
    stored_per_s: float  # over the middle 80 % of its rows, by received_at
    all_stored_s: float
    cpu: dict[str, float]  # from the first publish until all is stored


@dataclass
class BurstRound:
    """A burst between two ceilings, measured just before and just after it."""

    before: RawResult
    burst: Burst
    after: RawResult

    @property
    def ceiling(self) -> float:
        return (self.before.received_per_s + self.after.received_per_s) / 2

    @property
    def ratio(self) -> float:
        return self.burst.stored_per_s / self.ceiling


@dataclass
class LevelResult:
    devices: int
    offered_per_s: float
    published_per_s: float
    stored_per_s: float
    lag_start: int
    lag_end: int
    drain_s: float
    cpu: dict[str, float]

    @property
    def keeps_up(self) -> bool:
        return self.stored_per_s >= KEEP_UP * self.published_per_s


@dataclass
class Ingest:
    """The ingest devices, their sessions and how far each has published."""

    engine: Engine
    publishers: Publishers
    count: int  # processes used for ingest
    meter: CpuMeter
    devices: list[tuple[str, str]]  # (device_id, session_id)
    stand_in: list[uuid.UUID]  # devices the stand-ins publish for: their rows are not ingest rows
    published: list[int] = field(default_factory=list)  # blocks published per device so far

    def __post_init__(self) -> None:
        self.published = [0] * len(self.devices)
        self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def stored(self) -> int:
        """Rows stored for the ingest devices (all rows less the stand-ins' few, found by index)."""
        total = self._conn.scalar(text("SELECT count(*) FROM session_messages"))
        theirs = self._conn.scalar(
            text("SELECT count(*) FROM session_messages WHERE device_id = ANY(:ids)"), {"ids": self.stand_in}
        )
        return int(total or 0) - int(theirs or 0)

    def jobs(self, n: int, start_at: float, first: int = 0, **job: Any) -> list[dict[str, Any]]:
        """n devices from `first` on, spread over the processes, each continuing its own seq."""
        slices = [list(range(first + i, first + n, self.count)) for i in range(self.count)]
        return [
            {
                "devices": [(*self.devices[d], self.published[d] + 1) for d in part],
                "start_at": start_at,
                "part": part,
                **job,
            }
            for part in slices
        ]

    def finish(self, jobs: list[dict[str, Any]]) -> None:
        for job, result in zip(jobs, self.publishers.collect(self.count), strict=True):
            if not result["acked_all"]:
                raise RuntimeError("a load generator did not get all its PUBACKs")
            for d, sent in zip(job["part"], result["sent"], strict=True):
                self.published[d] += sent

    def drain(self, published_total: int, baseline: int) -> float:
        """Seconds until every published message of the run is stored (inf after DRAIN_TIMEOUT_S)."""
        started = time.monotonic()
        while self.stored() - baseline < published_total:
            if time.monotonic() - started > DRAIN_TIMEOUT_S:
                return math.inf
            time.sleep(0.05)
        return time.monotonic() - started

    def level(self, n: int, rate: float, warmup: float, seconds: float) -> LevelResult:
        """n devices at `rate` blocks/s for warmup + seconds; rates over the measured window."""
        stored0, acked0 = self.stored(), self.publishers.acked()
        start_at = time.monotonic() + 0.3
        jobs = self.jobs(n, start_at, rate=rate, seconds=warmup + seconds)
        self.publishers.send(jobs)
        time.sleep(max(0.0, start_at + warmup - time.monotonic()))
        cpu0, s0, p0 = self.meter.snapshot(), self.stored(), self.publishers.acked()
        time.sleep(max(0.0, start_at + warmup + seconds - time.monotonic()))
        cpu1, s1, p1 = self.meter.snapshot(), self.stored(), self.publishers.acked()
        self.finish(jobs)
        elapsed = cpu1.at - cpu0.at
        drain = self.drain(self.publishers.acked() - acked0, stored0)
        return LevelResult(
            n,
            n * rate,
            (p1 - p0) / elapsed,
            (s1 - s0) / elapsed,
            (p0 - acked0) - (s0 - stored0),
            (p1 - acked0) - (s1 - stored0),
            drain,
            CpuMeter.percent(cpu0, cpu1),
        )

    def burst(self, n: int, blocks: int, first: int) -> Burst:
        """n devices from `first` on publish `blocks` each flat out."""
        with self.engine.connect() as conn:
            before = int(conn.scalar(text("SELECT coalesce(max(id), 0) FROM session_messages")) or 0)
        stored0, acked0 = self.stored(), self.publishers.acked()
        start_at = time.monotonic() + 0.3
        jobs = self.jobs(n, start_at, first, rate=0, blocks=blocks)
        cpu0 = self.meter.snapshot()
        self.publishers.send(jobs)
        self.finish(jobs)
        published = self.publishers.acked() - acked0
        publish_s = time.monotonic() - start_at
        drained = self.drain(published, stored0)
        cpu1 = self.meter.snapshot()
        all_stored = time.monotonic() - start_at
        with self.engine.connect() as conn:
            low, high = conn.execute(
                text(
                    "SELECT percentile_disc(0.1) WITHIN GROUP (ORDER BY received_at), "
                    "percentile_disc(0.9) WITHIN GROUP (ORDER BY received_at) FROM session_messages WHERE id > :before"
                ),
                {"before": before},
            ).one()
        middle = (high - low).total_seconds()
        return Burst(
            published,
            published / publish_s,
            0.8 * published / middle if middle else math.nan,
            all_stored if drained != math.inf else math.inf,
            CpuMeter.percent(cpu0, cpu1),
        )

    def check(self) -> tuple[int, int, int, int]:
        """(published, stored, missing, extra) over the ingest sessions: seqs 1..published of each must be
        stored, once each (the unique constraint allows no more), and nothing else."""
        expected = {session: count for (_, session), count in zip(self.devices, self.published, strict=True)}
        stored: dict[str, list[int]] = {session: [] for session in expected}
        with self.engine.connect() as conn:
            for session, seq in conn.execute(
                text("SELECT session_id, seq FROM session_messages WHERE session_id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": list(expected)},
            ):
                stored[str(session)].append(int(seq))
        missing = extra = 0
        for session, count in expected.items():
            seqs = set(stored[session])
            missing += count - len(seqs & set(range(1, count + 1)))
            extra += len(stored[session]) - len(seqs & set(range(1, count + 1)))
        return sum(expected.values()), sum(len(v) for v in stored.values()), missing, extra

    def close(self) -> None:
        self._conn.close()


# --- 3. and 4. latencies ----------------------------------------------------------------------------------


@dataclass
class Latencies:
    name: str
    values_ms: list[float]
    timeouts: int = 0
    extra: dict[str, float] = field(default_factory=dict)
    marks: list[tuple[str, float, float]] = field(default_factory=list)  # (session id, sent, arrived) in wall time
    split: dict[str, tuple[float, float]] = field(default_factory=dict)  # stage -> (p50, p99) ms

    @property
    def p50(self) -> float:
        return percentile(self.values_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.values_ms, 0.99)


def measure_starts(
    http: Http,
    devices: StandInDevices,
    rooms: list[tuple[uuid.UUID, uuid.UUID, str]],
    appointments: list[uuid.UUID],
    headers: dict[str, str],
    rng: random.Random,
) -> Latencies:
    """POST start, one at a time, a random 0-100 ms apart so that starts fall anywhere in the gateway's poll."""
    latencies, responses, after = [], [], []
    marks: list[tuple[str, float, float]] = []
    timeouts = 0
    for i, ((_, _, mqtt_id), appointment) in enumerate(zip(rooms, appointments, strict=True)):
        time.sleep(rng.uniform(0, 0.1))
        sent = time.perf_counter()
        status, body = http.request("POST", f"/api/v1/appointments/{appointment}/start", {"day_of": DAY_OF}, headers)
        answered = time.perf_counter()
        if status != 201:
            raise RuntimeError(f"start refused: {status} {body}")
        arrived = devices.wait_for(mqtt_id, "load_protocol")
        if arrived is None:
            timeouts += 1
            continue
        if devices.sessions.get(mqtt_id) != body["session_id"]:
            raise RuntimeError(f"{mqtt_id} was armed for another session")
        if i >= WARMUP_STARTS:
            latencies.append((arrived - sent) * 1000)
            responses.append((answered - sent) * 1000)
            after.append((arrived - answered) * 1000)
            marks.append((body["session_id"], sent + WALL_OFFSET, arrived + WALL_OFFSET))
    return Latencies(
        "start → load_protocol",
        latencies,
        timeouts,
        {
            "http p50": percentile(responses, 0.5),
            "http p99": percentile(responses, 0.99),
            "after response p50": percentile(after, 0.5),
            "after response p99": percentile(after, 0.99),
        },
        marks,
    )


def measure_stops(
    devices: StandInDevices, sessions: list[tuple[str, str]], rng: random.Random, name: str, warmup: int = 0
) -> Latencies:
    """An over-current block per session, one at a time, 0-100 ms apart; time until its stop arrives."""
    latencies = []
    marks: list[tuple[str, float, float]] = []
    timeouts = 0
    for i, (mqtt_id, session_id) in enumerate(sessions):
        time.sleep(rng.uniform(0, 0.1))
        sent = devices.over_current(mqtt_id, session_id)
        arrived = devices.wait_for(mqtt_id, "stop")
        if arrived is None:
            timeouts += 1
        elif i >= warmup:
            latencies.append((arrived - sent) * 1000)
            marks.append((session_id, sent + WALL_OFFSET, arrived + WALL_OFFSET))
    return Latencies(name, latencies, timeouts, marks=marks)


def split_latencies(engine: Engine, latencies: Latencies, kind: str) -> None:
    """Where the time went, from the timestamps the API and the gateway wrote: for a start, POST → command row
    (API) → sent (gateway) → arrived; for a stop, publish → stored by the gateway (received_at of the block)
    → stop command row → sent → arrived."""
    stages: dict[str, list[float]] = {}
    with engine.connect() as conn:
        for session_id, sent, arrived in latencies.marks:
            command = conn.execute(
                text("SELECT created_at, sent_at FROM device_commands WHERE session_id = :s AND kind = :k"),
                {"s": session_id, "k": kind},
            ).first()
            if command is None or command.sent_at is None:
                continue
            points = [("POST" if kind == "load_protocol" else "block published", sent)]
            if kind == "stop":
                stored = conn.scalar(
                    text("SELECT max(received_at) FROM session_messages WHERE session_id = :s AND kind = 'telemetry'"),
                    {"s": session_id},
                )
                points.append(("block stored", stored.timestamp()))
            points += [
                ("command written", command.created_at.timestamp()),
                ("command sent", command.sent_at.timestamp()),
                ("arrived", arrived),
            ]
            for (a, t_a), (b, t_b) in zip(points, points[1:], strict=False):
                stages.setdefault(f"{a} → {b}", []).append((t_b - t_a) * 1000)
    latencies.split = {stage: (percentile(values, 0.5), percentile(values, 0.99)) for stage, values in stages.items()}


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def count_where(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(sql), params) or 0)


# --- report -----------------------------------------------------------------------------------------------


def fmt_cpu(cpu: dict[str, float], names: list[str]) -> str:
    return " | ".join(f"{cpu.get(name, math.nan):.0f}" for name in names)


def print_raw(raws: list[RawResult], best: RawResult) -> None:
    print("\n(1) Broker ceiling: paho publishers → Mosquitto → one paho subscriber, QoS 1, no database\n")
    print(
        "| publisher processes | payload bytes | published msg/s | received msg/s | "
        "CPU % broker | CPU % publishers | CPU % subscriber | CPU % machine (of 2 cores) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for raw in raws:
        mark = " (ceiling)" if raw is best else ""
        print(
            f"| {raw.publishers}{mark} | {raw.payload_bytes} | {raw.published_per_s:,.0f} | "
            f"{raw.received_per_s:,.0f} | {fmt_cpu(raw.cpu, ['broker', 'publishers', 'subscriber', 'machine'])} |"
        )


def print_levels(levels: list[LevelResult], raw: RawResult, rate: float) -> None:
    print(f"\n(2) Ingest, paced: every device {rate:g} block/s ({BLOCK_SAMPLES} samples), real gateway process\n")
    print(
        "| devices | offered msg/s | published msg/s | stored msg/s | stored samples/s | stored / ceiling | "
        "lag start → end | drain s | CPU % gateway | CPU % PostgreSQL | CPU % broker | CPU % load gen | "
        "CPU % machine | verdict |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for r in levels:
        verdict = "keeps up" if r.keeps_up else "falls behind"
        print(
            f"| {r.devices} | {r.offered_per_s:,.0f} | {r.published_per_s:,.0f} | {r.stored_per_s:,.0f} | "
            f"{r.stored_per_s * BLOCK_SAMPLES:,.0f} | {100 * r.stored_per_s / raw.received_per_s:.1f} % | "
            f"{r.lag_start} → {r.lag_end} | {r.drain_s:.1f} | "
            f"{fmt_cpu(r.cpu, ['gateway', 'postgres', 'broker', 'publishers', 'machine'])} | {verdict} |"
        )


def print_bursts(rounds: list[BurstRound], devices: int, highest: RawResult) -> float:
    """The rounds' table; returns the median of their ratios to the mean of the ceilings around each."""
    print(
        f"\n(2) Ingest, burst: {devices} devices publish {rounds[0].burst.messages} blocks flat out, "
        f"{len(rounds)} times, each between two ceilings (with (1)'s best number of publishers)\n"
    )
    print(
        "| round | ceiling before → after msg/s | published msg/s | stored msg/s (middle 80 %) | stored samples/s | "
        "stored / ceiling | all stored after s | CPU % gateway | CPU % PostgreSQL | CPU % broker | CPU % load gen | "
        "CPU % machine |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for index, r in enumerate(rounds, 1):
        b = r.burst
        print(
            f"| {index} | {r.before.received_per_s:,.0f} → {r.after.received_per_s:,.0f} | "
            f"{b.published_per_s:,.0f} | {b.stored_per_s:,.0f} | "
            f"{b.stored_per_s * BLOCK_SAMPLES:,.0f} | {100 * r.ratio:.1f} % | {b.all_stored_s:.1f} | "
            f"{fmt_cpu(b.cpu, ['gateway', 'postgres', 'broker', 'publishers', 'machine'])} |"
        )
    median = statistics.median(r.ratio for r in rounds)  # each against the mean of its two ceilings
    best = max(r.burst.stored_per_s for r in rounds)
    print(
        f"\nmedian of the rounds: {100 * median:.1f} % of the ceiling. Against the highest ceiling of the whole run "
        f"({highest.received_per_s:,.0f} msg/s), the best burst ({best:,.0f} msg/s) is "
        f"{100 * best / highest.received_per_s:.1f} %."
    )
    return median


def print_latencies(rows: list[Latencies], aims: dict[str, float]) -> None:
    print("\n| measured | n | p50 ms | p99 ms | max ms | timeouts | aim p99 | verdict |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        aim = aims[row.name]
        verdict = "met" if row.p99 < aim and not row.timeouts else "not met"
        print(
            f"| {row.name} | {len(row.values_ms)} | {row.p50:.1f} | {row.p99:.1f} | "
            f"{max(row.values_ms, default=math.nan):.1f} | {row.timeouts} | < {aim:.0f} ms | {verdict} |"
        )


def print_machine(engine: Engine) -> None:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"PostgreSQL {postgres_version(engine)}, Mosquitto {mosquitto_version()}, paho-mqtt {PAHO_VERSION}, "
        f"{platform.platform()}; load average before the run {load}"
    )
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"code: {code_version()}")
    print(f"broker: private Mosquitto, anonymous, persistence false, {'; '.join(broker_limits())}", flush=True)


# --- main -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def running(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        stop_process(process)


def log_findings(path: Path) -> Counter[str]:
    """Warnings and errors in the gateway's log, by message (interlock stops are expected)."""
    found: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        for level in ("WARNING", "ERROR", "CRITICAL", "Traceback"):
            if level in line and "interlock: stopping session" not in line:
                found[line.split(": ", 1)[-1][:120] if level != "Traceback" else "Traceback"] += 1
    return found


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    secret_key = secrets.token_urlsafe(36)
    recreate_database(BENCH_DB)
    upgrade(BENCH_URL)
    engine = create_engine(BENCH_URL)
    print_machine(engine)
    due = args.starts + WARMUP_STARTS
    staff = add_staff(engine, due)
    with tempfile.TemporaryDirectory(prefix="galvani-bench-gateway-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        broker = start_mosquitto(tmp, port)
        publishers: Publishers | None = None
        try:
            publishers = Publishers.spawn(max(args.publishers, *args.raw_publishers), port)
            raws = []
            for count in args.raw_publishers:
                raws.append(measure_raw(port, broker.pid, publishers, count, args.raw_seconds))
                print(
                    f"ceiling, {count} publishers: {raws[-1].received_per_s:,.0f} msg/s received, "
                    f"{raws[-1].published_per_s:,.0f} published, CPU {raws[-1].cpu}",
                    flush=True,
                )
            raw = max(raws, key=lambda r: r.received_per_s)
            env = service_env(tmp, port, secret_key)
            api_port = free_port()
            api_log, gateway_log = tmp / "api.log", tmp / "gateway.log"
            api = start_process(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "api.app:create_app",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(api_port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                env,
                api_log,
            )
            with (
                running(api),
                running(start_process([sys.executable, "-m", "galvani.cli", "gateway"], env, gateway_log)) as gateway,
            ):
                devices = StandInDevices(port)
                try:
                    if not devices.gateway_online.wait(READY_TIMEOUT_S):
                        raise RuntimeError(f"the gateway did not come online:\n{gateway_log.read_text()}")
                    wait_for_http(api, api_port, api_log)
                    results = run_measurements(
                        args,
                        engine,
                        staff,
                        secret_key,
                        api_port,
                        publishers,
                        devices,
                        {"gateway": [gateway.pid], "broker": [broker.pid], "api": [api.pid]},
                        lambda: measure_raw(port, broker.pid, publishers, raw.publishers, args.raw_seconds),
                        rng,
                    )
                finally:
                    devices.close()
            findings = log_findings(gateway_log)
            findings.update(
                f"broker: {line.split(': ', 1)[-1]}"
                for line in (tmp / "mosquitto.log").read_text(errors="replace").splitlines()
                if "dropped" in line
            )  # a full queue: Mosquitto says so only here
        finally:
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in tmp.glob("*.log"):
                    shutil.copy(log, args.keep_logs / log.name)
            if publishers is not None:
                publishers.stop()
            stop_process(broker)
    report(args, raws, raw, results, findings)
    engine.dispose()


@dataclass
class Results:
    levels: list[LevelResult]
    rounds: list[BurstRound]
    burst_devices: int
    latencies: list[Latencies]
    under_load: LevelResult | None
    check: tuple[int, int, int, int]
    commands: list[tuple[str, str, int]]
    session_statuses: list[tuple[str, int]]
    incidents: list[tuple[str, int]]
    commands_seen: Counter[str]


def run_measurements(
    args: argparse.Namespace,
    engine: Engine,
    staff: Staff,
    secret_key: str,
    api_port: int,
    publishers: Publishers,
    devices: StandInDevices,
    pids: dict[str, list[int]],
    measure_ceiling: Callable[[], RawResult],
    rng: random.Random,
) -> Results:
    """Everything after the ceiling, with the API and the gateway running."""
    now = datetime.now(UTC)
    token = {
        role: {
            "Authorization": "Bearer "
            + create_access_token(user_id=user, generation=0, key=secret_key, now=now, minutes=60)
        }
        for role, user in (
            (Role.MEDICAL_DIRECTOR, staff.medical_director),
            (Role.FRONT_DESK, staff.front_desk),
            (Role.ESTHETICIAN, staff.esthetician),
        )
    }
    http = Http(api_port)
    draft = http.ok(
        "POST",
        "/api/v1/protocols",
        {"name": "Bench lift", "target": {"areas": ["cheeks"], "goal": "lift"}, "steps": STEPS},
        token[Role.MEDICAL_DIRECTOR],
    )
    protocol = http.ok("POST", f"/api/v1/protocols/{draft['id']}/approve", None, token[Role.MEDICAL_DIRECTOR], 200)
    protocol_id = uuid.UUID(protocol["id"])

    due = args.starts + WARMUP_STARTS
    clients = []
    for i in range(due + 1):
        made = http.ok(
            "POST",
            "/api/v1/clients",
            {
                "first_name": f"Bench{i}",
                "last_name": "Client",
                "date_of_birth": "1985-01-01",
                "email": f"bench.client.{i}@example.com",
            },
            token[Role.FRONT_DESK],
        )
        clients.append(uuid.UUID(made["id"]))
        if i < due:
            http.ok(
                "POST", f"/api/v1/clients/{made['id']}/screenings", {"answers": NO_ANSWERS}, token[Role.ESTHETICIAN]
            )
    # rooms due now for the starts; rooms in the past for ingest and for interlock stops under load
    start_rooms = add_rooms(engine, "bench-start", due)
    start_appointments = add_appointments(
        engine,
        start_rooms,
        client_ids=clients[:due],
        protocol_id=protocol_id,
        estheticians=staff.appointment_estheticians,
        starts=[now + timedelta(minutes=5)] * due,
        created_by=staff.esthetician,
    )
    ingest_count = max([*args.levels, args.burst_devices * args.rounds])
    ingest_rooms = add_rooms(engine, "bench-ingest", ingest_count)
    stop_rooms = add_rooms(engine, "bench-stop", args.stops)
    past = [now - timedelta(days=1, hours=i) for i in range(ingest_count + args.stops)]
    appointments = add_appointments(
        engine,
        ingest_rooms + stop_rooms,
        client_ids=[clients[due]] * len(past),
        protocol_id=protocol_id,
        estheticians=[staff.esthetician] * len(past),
        starts=past,
        created_by=staff.esthetician,
    )
    ingest_sessions = add_sessions(
        engine,
        ingest_rooms,
        appointments[:ingest_count],
        protocol_id=protocol_id,
        status=SessionStatus.TREATING,
        created_by=staff.esthetician,
    )
    stop_sessions = add_sessions(
        engine,
        stop_rooms,
        appointments[ingest_count:],
        protocol_id=protocol_id,
        status=SessionStatus.ARMED,
        created_by=staff.esthetician,
    )
    print(
        f"database: {due} appointments due now, {ingest_count} treating sessions for ingest, "
        f"{args.stops} armed sessions for stops under load",
        flush=True,
    )

    meter = CpuMeter(engine)
    meter.groups = {**pids, "publishers": publishers.pids(args.publishers)}
    ingest_pairs = [(mqtt_id, session) for (_, _, mqtt_id), session in zip(ingest_rooms, ingest_sessions, strict=True)]
    ingest = Ingest(
        engine, publishers, args.publishers, meter, ingest_pairs, [device for _, device, _ in start_rooms + stop_rooms]
    )
    try:
        levels: list[LevelResult] = []
        for n in args.levels:
            result = ingest.level(n, args.rate, args.warmup, args.level_seconds)
            levels.append(result)
            print(
                f"  {n} devices: published {result.published_per_s:,.0f}/s, stored {result.stored_per_s:,.0f}/s, "
                f"lag {result.lag_start} → {result.lag_end}, drain {result.drain_s:.1f}s, CPU {result.cpu}",
                flush=True,
            )
            if not result.keeps_up:
                break
        best = max(r.stored_per_s for r in levels)
        blocks = min(300, max(20, math.ceil(best * BURST_S / args.burst_devices)))  # within max_output_s
        rounds: list[BurstRound] = []
        before = measure_ceiling()
        for round_index in range(args.rounds):  # each round's devices are new, so no session nears max_output_s
            burst = ingest.burst(args.burst_devices, blocks, first=round_index * args.burst_devices)
            after = measure_ceiling()
            rounds.append(BurstRound(before, burst, after))
            before = after
            print(
                f"  round {round_index + 1}: ceiling {rounds[-1].ceiling:,.0f} msg/s; burst of {burst.messages} "
                f"messages from {args.burst_devices} devices, published {burst.published_per_s:,.0f}/s, stored "
                f"{burst.stored_per_s:,.0f}/s over the middle 80 % ({100 * rounds[-1].ratio:.1f} %), all stored "
                f"after {burst.all_stored_s:.1f}s, CPU {burst.cpu}",
                flush=True,
            )

        # 4b. interlock stops while 200 devices stream at 1 block/s
        load_devices = min(200, ingest_count)
        stop_pairs = [(mqtt_id, session) for (_, _, mqtt_id), session in zip(stop_rooms, stop_sessions, strict=True)]
        load_seconds = 2.0 + args.stops * 0.12 + 3.0
        acked0, stored0 = publishers.acked(), ingest.stored()
        start_at = time.monotonic() + 0.3
        jobs = ingest.jobs(load_devices, start_at, rate=args.rate, seconds=load_seconds)
        publishers.send(jobs)
        time.sleep(2.3)
        cpu0, s0, p0 = meter.snapshot(), ingest.stored(), publishers.acked()
        stops_loaded = measure_stops(devices, stop_pairs, rng, f"over-current → stop, {load_devices} devices streaming")
        cpu1, s1, p1 = meter.snapshot(), ingest.stored(), publishers.acked()
        ingest.finish(jobs)
        elapsed = cpu1.at - cpu0.at
        under_load = LevelResult(
            load_devices,
            load_devices * args.rate,
            (p1 - p0) / elapsed,
            (s1 - s0) / elapsed,
            (p0 - acked0) - (s0 - stored0),
            (p1 - acked0) - (s1 - stored0),
            ingest.drain(publishers.acked() - acked0, stored0),
            CpuMeter.percent(cpu0, cpu1),
        )
        print(f"  {stops_loaded.name}: p50 {stops_loaded.p50:.1f} ms p99 {stops_loaded.p99:.1f} ms", flush=True)

        # 3. starts: every device of those rooms says it is idle first
        for _, _, mqtt_id in start_rooms:
            devices.status(mqtt_id, "idle")
        if not wait_until(
            lambda: (
                count_where(
                    engine, "SELECT count(*) FROM devices WHERE device_id LIKE 'bench-start-%' AND state = 'idle'"
                )
                == due
            )
        ):
            raise RuntimeError("the gateway did not record the devices as idle")
        starts = measure_starts(http, devices, start_rooms, start_appointments, token[Role.ESTHETICIAN], rng)
        print(f"  {starts.name}: p50 {starts.p50:.1f} ms p99 {starts.p99:.1f} ms {starts.extra}", flush=True)
        armed = wait_until(
            lambda: (
                count_where(
                    engine,
                    "SELECT count(*) FROM treatment_sessions WHERE status = 'armed' AND device_id IN "
                    "(SELECT id FROM devices WHERE device_id LIKE 'bench-start-%')",
                )
                == due
            )
        )
        if not armed:
            print("  not every started session was armed after its accepted ack", flush=True)

        # 4a. interlock stops with the gateway otherwise idle, on the sessions just armed through the API
        idle_pairs = [
            (mqtt_id, devices.sessions[mqtt_id]) for _, _, mqtt_id in start_rooms if mqtt_id in devices.sessions
        ]
        stops_idle = measure_stops(
            devices, idle_pairs, rng, "over-current → stop, gateway otherwise idle", warmup=WARMUP_STARTS
        )
        print(f"  {stops_idle.name}: p50 {stops_idle.p50:.1f} ms p99 {stops_idle.p99:.1f} ms", flush=True)

        wait_until(
            lambda: (
                count_where(engine, "SELECT count(*) FROM treatment_sessions WHERE status = 'stopped'")
                == len(idle_pairs) + len(stop_pairs)
            ),
            timeout=15,
        )
        time.sleep(1.0)  # the last acks and events
        check = ingest.check()
        split_latencies(engine, starts, "load_protocol")
        split_latencies(engine, stops_idle, "stop")
        split_latencies(engine, stops_loaded, "stop")
        with engine.connect() as conn:
            commands = [
                (str(a), str(b), int(c))
                for a, b, c in conn.execute(
                    text(
                        "SELECT kind, status, count(*) FROM device_commands GROUP BY kind, status ORDER BY kind, status"
                    )
                )
            ]
            statuses = [
                (str(a), int(b))
                for a, b in conn.execute(
                    text("SELECT status, count(*) FROM treatment_sessions GROUP BY status ORDER BY status")
                )
            ]
            incidents = [
                (str(a), int(b))
                for a, b in conn.execute(
                    text("SELECT kind, count(*) FROM session_incidents GROUP BY kind ORDER BY kind")
                )
            ]
    finally:
        ingest.close()
    return Results(
        levels,
        rounds,
        args.burst_devices,
        [starts, stops_idle, stops_loaded],
        under_load,
        check,
        commands,
        statuses,
        incidents,
        Counter(devices.command_counts),
    )


def report(
    args: argparse.Namespace, raws: list[RawResult], raw: RawResult, results: Results, findings: Counter[str]
) -> None:
    print_raw(raws, raw)
    print_levels(results.levels, raw, args.rate)
    highest = max([*raws, *(r.after for r in results.rounds)], key=lambda r: r.received_per_s)
    burst_ratio = print_bursts(results.rounds, results.burst_devices, highest)
    published, stored, missing, extra = results.check
    verdict = "nothing lost" if missing == 0 else "LOST"
    print(
        f"\n{verdict}: {published} blocks published and acknowledged by the broker for the ingest sessions, "
        f"{stored} rows stored, {missing} missing, {extra} stored twice or unexpected"
    )
    print("\n(3) and (4) latencies")
    print_latencies(
        results.latencies,
        {results.latencies[0].name: 200, results.latencies[1].name: 100, results.latencies[2].name: 100},
    )
    starts = results.latencies[0]
    print(
        f"\nstart, split: HTTP response p50 {starts.extra['http p50']:.1f} ms, "
        f"p99 {starts.extra['http p99']:.1f} ms; "
        f"response → load_protocol p50 {starts.extra['after response p50']:.1f} ms, "
        f"p99 {starts.extra['after response p99']:.1f} ms"
    )
    print("\nwhere the time went (from the API's and the gateway's own timestamps), p50 / p99 ms:\n")
    print("| measured | stage | p50 ms | p99 ms |")
    print("|---|---|---:|---:|")
    for row in results.latencies:
        for stage, (p50, p99) in row.split.items():
            print(f"| {row.name} | {stage} | {p50:.1f} | {p99:.1f} |")
    if results.under_load is not None:
        r = results.under_load
        print(
            f"during the stops under load: published {r.published_per_s:,.0f} msg/s, stored {r.stored_per_s:,.0f} "
            f"msg/s, lag {r.lag_start} → {r.lag_end}, CPU gateway {r.cpu.get('gateway', math.nan):.0f} %"
        )
    print(f"\ncommands seen by the stand-in devices: {dict(results.commands_seen)}")
    print(f"device_commands (kind, status, count): {results.commands}")
    print(f"treatment_sessions (status, count): {results.session_statuses}")
    print(f"session_incidents (kind, count): {results.incidents}")
    print(f"gateway and broker logs, warnings and errors other than interlock stops: {dict(findings) or 'none'}")
    kept_up = [r for r in results.levels if r.keeps_up]
    if kept_up:
        best = max(kept_up, key=lambda r: r.stored_per_s)
        print(
            f"\nmost devices kept up with: {best.devices} at {args.rate:g} block/s, stored {best.stored_per_s:,.0f} "
            f"msg/s = {100 * best.stored_per_s / raw.received_per_s:.1f} % of the ceiling"
        )
    at_200 = next((r for r in results.levels if r.devices == 200), None)
    if at_200 is not None:
        print(
            f"\nwith 200 devices at {args.rate:g} block/s: stored {at_200.stored_per_s:,.0f} msg/s = "
            f"{100 * at_200.stored_per_s / raw.received_per_s:.1f} % of the ceiling; "
            f"burst of 200 devices: {100 * burst_ratio:.1f} % of the ceiling (median of {len(results.rounds)} "
            f"rounds); "
            f"aim ≥ 50 % with nothing lost"
        )


if __name__ == "__main__":
    main()
