"""(3) and (4): start and interlock-stop latencies, split by the API's and the gateway's timestamps."""

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from bench.gateway.devices import StandInDevices
from bench.gateway.settings import DAY_OF, WALL_OFFSET, WARMUP_STARTS
from bench.gateway.support import Http, percentile


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
