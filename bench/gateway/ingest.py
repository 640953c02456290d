"""(2) Ingest: paced levels and bursts into the real gateway, and the check that nothing was lost."""

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from bench.gateway.load import Publishers, RawResult
from bench.gateway.settings import DRAIN_TIMEOUT_S, KEEP_UP
from bench.gateway.support import CpuMeter


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
class IngestRun:
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
