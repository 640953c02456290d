"""The printed report: the same sections, tables and columns as ever."""

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
from collections import Counter
from dataclasses import dataclass

from paho.mqtt import __version__ as PAHO_VERSION
from sqlalchemy import Engine

from bench.common import postgres_version
from bench.gateway.ingest import BurstRound, LevelResult
from bench.gateway.latency import Latencies
from bench.gateway.load import RawResult
from bench.gateway.support import broker_limits, code_version, mosquitto_version
from device_gateway.simulated_session import BLOCK_SAMPLES


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
