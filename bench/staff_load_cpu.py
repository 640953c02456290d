"""Where the CPU went during the load run (bench/staff_load.py): each process group's CPU seconds from /proc, as
bench/gateway does, with each process's descendants (uvicorn's workers, run.sh's Mosquitto) counted in."""

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from bench.gateway.support import cpu_seconds, machine_busy


def tree(pid: int) -> list[int]:
    """The process and all its descendants, as /proc lists them now."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def postgres_pids(engine: Engine, database: str) -> list[int]:
    """This database's backends and the server's writers."""
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (datname = :db OR "
                    "backend_type IN ('walwriter', 'checkpointer', 'background writer'))"
                ),
                {"db": database},
            )
        )


@dataclass
class Snapshot:
    at: float
    seconds: dict[str, dict[int, float]]
    machine: tuple[float, float]


def snapshot(groups: dict[str, list[int]]) -> Snapshot:
    return Snapshot(
        time.monotonic(),
        {name: {pid: cpu_seconds(pid) for pid in pids} for name, pids in groups.items()},
        machine_busy(),
    )


def percent(start: Snapshot, end: Snapshot) -> dict[str, float]:
    """% of one core per group between two snapshots (processes gone by the end count what they had at the start
    as nothing more), and the whole machine's % of all its cores."""
    elapsed = end.at - start.at
    result = {
        name: 100
        * sum(max(0.0, cpu - start.seconds.get(name, {}).get(pid, 0.0)) for pid, cpu in pids.items())
        / elapsed
        for name, pids in end.seconds.items()
    }
    busy, total = end.machine[0] - start.machine[0], end.machine[1] - start.machine[1]
    result["machine (of all cores)"] = 100 * busy / total if total else float("nan")
    return result
