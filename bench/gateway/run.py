"""The run: start the broker, the API and the gateway, measure, report."""

import argparse
import math
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from api.security import create_access_token
from bench.common import LOOPBACK, free_port, recreate_database
from bench.gateway.database import Staff, add_appointments, add_rooms, add_sessions, add_staff
from bench.gateway.devices import StandInDevices
from bench.gateway.ingest import BurstRound, IngestRun, LevelResult
from bench.gateway.latency import count_where, measure_starts, measure_stops, split_latencies, wait_until
from bench.gateway.load import Publishers, RawResult, measure_raw
from bench.gateway.report import Results, print_machine, report
from bench.gateway.settings import (
    BENCH_DB,
    BENCH_URL,
    BURST_S,
    NO_ANSWERS,
    READY_TIMEOUT_S,
    STEPS,
    WARMUP_STARTS,
    parse_args,
)
from bench.gateway.support import (
    CpuMeter,
    Http,
    running,
    service_env,
    start_mosquitto,
    start_process,
    stop_process,
    wait_for_http,
)
from db.migrate import upgrade
from db.models import Role, SessionStatus


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
    ingest = IngestRun(
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
