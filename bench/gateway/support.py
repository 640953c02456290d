"""Small helpers: payloads, CPU from /proc, the processes the benchmark starts, an HTTP client."""

import contextlib
import functools
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import Engine, text

from bench.common import LOOPBACK
from bench.gateway.settings import (
    BENCH_DB,
    BENCH_URL,
    BROKER_LIMITS,
    CLK_TCK,
    PRODUCTION_BROKER_CONFIG,
    READY_TIMEOUT_S,
    ROOT,
    STEP_CURRENT_UA,
)
from device_gateway import simulated_messages
from device_gateway.simulated_session import BLOCK_SAMPLES, SAMPLE_INTERVAL_MS, sample_currents
from tests.mqtt import wait_for_port

# --- small helpers ----------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (NaN when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _block_format() -> str:
    """The simulator's own telemetry block (simulated_messages.telemetry, step 0) as a %-template of its session_id,
    seq, t_ms and samples, each found by a value that occurs nowhere else in it."""
    block = simulated_messages.telemetry("SESSION", 111, step=0, t_ms=222, current_ua=[333.0]).decode()
    fields = {'"SESSION"': '"%s"', ":111,": ":%d,", ":222,": ":%d,", "[333.0]": "%s"}
    if "%" in block or any(block.count(value) != 1 for value in fields):
        raise RuntimeError(f"cannot make a template of the telemetry block {block}")
    for value, field in fields.items():
        block = block.replace(value, field)
    return block


BLOCK_FORMAT = _block_format()


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
    wait_for_port(LOOPBACK, port, READY_TIMEOUT_S)
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


@contextlib.contextmanager
def running(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        stop_process(process)


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
