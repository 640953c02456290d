"""Load proof (issue 15; a benchmark, not a test, not in CI): --staff virtual staff doing a realistic mix while
--devices simulated devices stream telemetry, for --minutes, against the production shape.

What runs, each in its own process, as docker-compose.yml runs them:
- PostgreSQL: the local server, a database of its own (`galvani_bench_staff_load`, recreated, left afterwards);
- Mosquitto: deploy/mosquitto/run.sh with the shipped mosquitto.conf and acl (TLS only, no anonymous login,
  persistence, the queue and in-flight limits), on a free port, with certificates made by `galvani certificates`;
  the gateway writes every device's broker user to GALVANI_DEVICE_USERS_FILE and run.sh loads them;
- `galvani api --workers N` over HTTPS and `galvani gateway` (as galvani-gateway-a, its own broker user), with
  the environment compose gives them (GALVANI_ENV=production, mqtts://, the CA, the device users file);
- the devices: device_gateway/simulator.py's SimulatedDevice, one paho client per device, each logging in with
  the password the API gave it at registration, all in one process of their own (bench/staff_load_devices.py);
- the staff: one asyncio process, httpx over HTTPS, one keep-alive connection per user (bench/staff_load_staff.py).

The clinic (bench/staff_load_clinic.py): one room per device; the admin from GALVANI_ADMIN_*, every other account
through POST /users; the approved protocol (two steps of 300 s at 200 µA) through the API; --clients clients.

What "200 devices stream telemetry" means here: every device runs real sessions (armed by the gateway with a
load_protocol, started on the device, a block of 10 samples a second, its events), as in a chain's busy hour when
every room treats. The rooms of the virtual estheticians (3 each) run the sessions those estheticians start, stop
and resume, so their devices treat part of the time and are idle in between. Every other room (the floor) runs
one session, started through the API before the run on a stand-in protocol as long as the run (bench/room_soak.py's:
a real protocol gives at most 10 minutes of current) and stopped through the API after it. So the gateway takes
nearly --devices blocks a second all through, plus the staff's arming, events, stops and status changes.

The staff's mix (bench/staff_load_staff.py): 40 % front desk (search, open a client, book a 12-session series), the
rest estheticians (the room's appointments, open the client, screen, check the device, start or resume, read the
record until it treats, search and open clients while it treats for --treat seconds, stop, read the record until
it says stopped), with --think seconds (± 50 %) between requests: at 1 s, each virtual user asks several times as
much as a person at a desk would, so 20 of them stand for a much larger staff. Each request's latency counts under its
operation; every answer other than the expected one is an error and is printed. Requests begun in the first
--warmup seconds are left out of the percentiles (not out of the errors).

At the end: per operation count, p50, p99, max and errors; the error rate; nothing lost: every session message a
device handed to paho is stored (by session and seq, against the database), and every started session ended;
gateway lag: a telemetry block handed to paho → its row's received_at (the gateway's clock when it writes the
batch), for the blocks sent during the run. Ceiling from the same run: the bare FastAPI app of bench/bare_app.py
under uvicorn with the same workers and TLS, requested back to back by as many connections as there are staff
(no think time), before the service starts.

    .venv/bin/python bench/staff_load.py                          # 10 minutes, 20 staff, 200 devices, 4 workers
    .venv/bin/python bench/staff_load.py --minutes 1 --devices 50
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ is not an installed package

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import platform
import pwd
import random
import secrets
import shlex
import ssl
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import staff_load_cpu as cpu
from sqlalchemy import Engine, create_engine, text
from staff_load_clinic import Clinic, build, log_in, ok
from staff_load_devices import run_devices
from staff_load_staff import Run, Tally, flat_out, staff_run

from bench.common import LOOPBACK, bench_url, free_port, postgres_version, recreate_database
from bench.gateway.run import log_findings
from bench.gateway.settings import DAY_OF
from bench.gateway.support import code_version, mosquitto_version, percentile, start_process, stop_process
from db.migrate import upgrade
from galvani.certificates import make_certificates
from tests.deploy.broker import local_config
from tests.deploy.shipped import GATEWAY_USER, RUN_SH, services
from tests.mqtt import SEARCH_PATH, wait_for_port

DATABASE = "galvani_bench_staff_load"
DATABASE_URL = bench_url(DATABASE)
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HOSTS = ("localhost", "127.0.0.1")
READY_S = 120.0
SETTLE_S = 60.0  # for the floor's sessions to start and, at the end, to end
FINAL = ("stopped", "completed")
MAX_MINUTES = 20  # an esthetician's room resumes its one appointment every third treatment: within its 600 s


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the staff work")
    parser.add_argument("--staff", type=int, default=20, help="virtual staff, each with an account of their own")
    parser.add_argument("--devices", type=int, default=200, help="simulated devices, one per room, all treating")
    parser.add_argument("--workers", type=int, default=4, help="uvicorn workers of `galvani api` (compose: 4)")
    parser.add_argument("--clients", type=int, default=5000, help="clients in the database")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between one user's requests")
    parser.add_argument("--treat", type=float, nargs=2, default=(20.0, 60.0), metavar=("MIN", "MAX"),
                        help="seconds an esthetician lets a session treat before stopping it")  # fmt: skip
    parser.add_argument("--press-after", type=float, default=2.0, help="seconds from armed to start on the device")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds left out of the percentiles")
    parser.add_argument("--ceiling-seconds", type=float, default=15.0, help="seconds of the bare ceiling")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"give --minutes up to {MAX_MINUTES}: each room's appointment gives 600 s of current in all")
    if args.devices < max(20, 2 * args.staff):
        parser.error("give at least 20 and 2 x --staff devices: the estheticians' rooms, the floor, booking lanes")
    return args


@dataclass
class Services:
    """The processes started here and where they listen."""

    tmp: Path
    certs: Path
    broker_port: int
    api_port: int
    gateway_password: str
    admin_password: str
    processes: dict[str, Any]

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca_file(self) -> str:
        return str(self.certs / "ca.pem")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")}


def start_broker(svc: Services) -> None:
    """deploy/mosquitto/run.sh with the shipped config, its paths and port moved here (tests/deploy/broker.py)."""
    folder = svc.tmp / "broker"
    folder.mkdir()
    tls_dir, password_file = folder / "tls", folder / "passwd"
    env = clean_env() | {
        "PATH": SEARCH_PATH,
        "MOSQUITTO_CONFIG": str(local_config(folder, svc.broker_port, password_file, tls_dir, sys_interval=None)),
        "MOSQUITTO_PASSWORD_FILE": str(password_file),
        "MOSQUITTO_CERTS_DIR": str(svc.certs),
        "MOSQUITTO_TLS_DIR": str(tls_dir),
        "GALVANI_DEVICE_USERS_FILE": str(svc.tmp / "users" / "devices.passwd"),
        "MOSQUITTO_USER": pwd.getpwuid(os.getuid()).pw_name,
        "GALVANI_GATEWAY_MQTT_PASSWORD": svc.gateway_password,
        "GALVANI_GATEWAY_USERS": services()["mosquitto"]["environment"]["GALVANI_GATEWAY_USERS"],
    }
    svc.processes["broker"] = start_process(["sh", str(RUN_SH)], env, svc.tmp / "broker.log")
    wait_for_port(LOOPBACK, svc.broker_port, READY_S)


def galvani_env(svc: Services, secret_key: str) -> dict[str, str]:
    """What docker-compose.yml gives the api and the gateways (x-galvani), with this run's paths and ports."""
    (svc.tmp / "users").mkdir(exist_ok=True)
    return clean_env() | {
        "GALVANI_ENV": "production",
        "GALVANI_DATABASE_URL": DATABASE_URL,
        "GALVANI_MQTT_URL": f"mqtts://127.0.0.1:{svc.broker_port}",
        "GALVANI_MQTT_CA_FILE": svc.ca_file,
        "GALVANI_SECRET_KEY": secret_key,
        "GALVANI_CLINIC_TIMEZONE": "UTC",
        "GALVANI_ADMIN_EMAIL": "load.admin@clinic.example.com",
        "GALVANI_ADMIN_PASSWORD": svc.admin_password,
        "GALVANI_DEVICE_USERS_FILE": str(svc.tmp / "users" / "devices.passwd"),
    }


def start_galvani(svc: Services, workers: int) -> None:
    secret_key = secrets.token_urlsafe(36)
    env = galvani_env(svc, secret_key)
    api_env = env | {
        "GALVANI_DATA_DIR": str(svc.tmp / "api"),
        "GALVANI_TLS_CERTFILE": str(svc.certs / "https.pem"),
        "GALVANI_TLS_KEYFILE": str(svc.certs / "https-key.pem"),
    }
    gateway_env = env | {
        "GALVANI_DATA_DIR": str(svc.tmp / "gateway"),
        "GALVANI_GATEWAY_ID": GATEWAY_USER,
        "GALVANI_MQTT_URL": f"mqtts://{GATEWAY_USER}:{svc.gateway_password}@127.0.0.1:{svc.broker_port}",
    }
    command = [sys.executable, "-m", "galvani.cli"]
    svc.processes["gateway"] = start_process([*command, "gateway"], gateway_env, svc.tmp / "gateway.log")
    svc.processes["api"] = start_process(
        [*command, "api", "--host", LOOPBACK, "--port", str(svc.api_port), "--workers", str(workers)],
        api_env,
        svc.tmp / "api.log",
    )
    wait_healthy(svc)


def wait_healthy(svc: Services) -> None:
    """Until /health says ok: the database, the broker and an active gateway."""
    deadline = time.monotonic() + READY_S
    last = ""
    with httpx.Client(base_url=svc.base_url, verify=ssl.create_default_context(cafile=svc.ca_file)) as http:
        while time.monotonic() < deadline:
            for name, process in svc.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {svc.tmp}/{name}.log")
            try:
                answer = http.get("/health")
                last = answer.text
                if answer.status_code == 200 and answer.json()["status"] == "ok":
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.5)
    raise RuntimeError(f"the API is not healthy after {READY_S:.0f} s: {last}")


def wait_until(check: Any, what: str, timeout: float = READY_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.5)


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(sql), params) or 0)


def measure_ceiling(svc: Services, args: argparse.Namespace) -> tuple[list[float], dict[str, float]]:
    """bench/bare_app.py under uvicorn with the API's workers and TLS; --staff connections back to back. The
    latencies, and the CPU of the server and of this process (the load generator) meanwhile."""
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "bare_app:app", "--host", LOOPBACK,
        "--port", str(svc.api_port), "--workers", str(args.workers), "--no-access-log", "--log-level", "warning",
        "--ssl-certfile", str(svc.certs / "https.pem"), "--ssl-keyfile", str(svc.certs / "https-key.pem"),
    ]  # fmt: skip
    process = start_process(command, clean_env(), svc.tmp / "bare.log")
    try:
        wait_for_port(LOOPBACK, svc.api_port, READY_S)
        asyncio.run(flat_out(svc.base_url, svc.ca_file, "/bare", args.staff, 2.0))  # warm-up
        groups = {"bare app": cpu.tree(process.pid), "staff (this process)": [os.getpid()]}
        before = cpu.snapshot(groups)
        latencies = asyncio.run(flat_out(svc.base_url, svc.ca_file, "/bare", args.staff, args.ceiling_seconds))
        return latencies, cpu.percent(before, cpu.snapshot(groups))
    finally:
        stop_process(process)


def start_devices(svc: Services, clinic: Clinic, engine: Engine, press_after: float) -> tuple[Any, Any]:
    """The device process, once the broker knows every device's password; then every device idle on record."""
    password_file = svc.tmp / "broker" / "passwd"
    wait_until(
        lambda: all(f"{r.device_id}:" in password_file.read_text() for r in clinic.rooms),
        "every device in the broker's password file",
    )
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    credentials = {r.device_id: r.password for r in clinic.rooms}
    process = ctx.Process(
        target=run_devices, args=(credentials, svc.broker_port, svc.ca_file, press_after, theirs), daemon=True
    )
    process.start()
    if not mine.poll(READY_S * 2):
        raise RuntimeError("the devices did not come online")
    online = mine.recv()
    if online["offline"]:
        raise RuntimeError(f"devices not online: {online}")
    wait_until(
        lambda: count(engine, "SELECT count(*) FROM devices WHERE state = 'idle'") == len(clinic.rooms),
        "every device idle on record",
    )
    return process, mine


def start_floor(svc: Services, clinic: Clinic, engine: Engine) -> list[str]:
    """The floor's sessions, started through the API; returns once every one treats."""
    sessions = []
    with httpx.Client(base_url=svc.base_url, verify=ssl.create_default_context(cafile=svc.ca_file)) as http:
        headers = log_in(http, clinic.floor)
        for due in clinic.floor_due:
            answer = http.post(
                f"/api/v1/appointments/{due.appointment_id}/start",
                headers=headers,
                json={"day_of": DAY_OF},
            )
            sessions.append(ok(answer)["session_id"])
    wait_until(
        lambda: (
            count(
                engine,
                "SELECT count(*) FROM treatment_sessions WHERE status = 'treating' AND id = ANY(CAST(:ids AS uuid[]))",
                ids=sessions,
            )
            == len(sessions)
        ),
        "every floor session treating",
        SETTLE_S,
    )
    return sessions


def cpu_groups(svc: Services, devices_pid: int, engine: Engine) -> dict[str, list[int]]:
    groups = {name: cpu.tree(svc.processes[name].pid) for name in ("api", "gateway", "broker")}
    return groups | {
        "devices": cpu.tree(devices_pid),
        "staff (this process)": [os.getpid()],
        "postgres": cpu.postgres_pids(engine, DATABASE),
    }


def unfinished(engine: Engine) -> int:
    return count(engine, "SELECT count(*) FROM treatment_sessions WHERE status NOT IN ('stopped', 'completed')")


def stop_floor(svc: Services, clinic: Clinic, sessions: list[str], tally: Tally) -> None:
    with httpx.Client(base_url=svc.base_url, verify=ssl.create_default_context(cafile=svc.ca_file)) as http:
        headers = log_in(http, clinic.floor)
        for session_id in sessions:
            answer = http.post(f"/api/v1/sessions/{session_id}/stop", headers=headers)
            if answer.status_code != 200:
                tally.errors.append(("floor: stop session", answer.status_code, answer.text[:300]))


@dataclass
class Delivery:
    sent: int
    stored: int
    missing: int
    extra: int
    lag_ms: list[float]
    blocks_in_run: int
    missing_examples: list[tuple[str, int, str]]


def delivery(engine: Engine, sent: list[tuple[str, int, str, float]], window: tuple[float, float]) -> Delivery:
    """Every message a device sent against the rows stored, by (session, seq); the lag of the run's blocks."""
    sessions = sorted({s for s, *_ in sent})
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT CAST(session_id AS text), seq, extract(epoch FROM received_at) FROM session_messages "
                "WHERE session_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": sessions},
        ).all()
    stored = {(s, int(seq)): float(at) for s, seq, at in rows}
    sent_keys = {(s, seq) for s, seq, _, _ in sent}
    missing = [(s, seq, leaf) for s, seq, leaf, _ in sent if (s, seq) not in stored]
    lags = [
        (stored[(s, seq)] - at) * 1000
        for s, seq, leaf, at in sent
        if leaf == "telemetry" and window[0] <= at <= window[1] and (s, seq) in stored
    ]
    blocks = sum(1 for _, _, leaf, at in sent if leaf == "telemetry" and window[0] <= at <= window[1])
    return Delivery(len(sent), len(stored), len(missing), len(set(stored) - sent_keys), lags, blocks, missing[:10])


def figures(values: list[float]) -> str:
    return " | ".join(f"{percentile(values, p):.1f}" for p in (0.5, 0.99, 1.0))


def report(
    args: argparse.Namespace,
    ceiling: list[float],
    tally: Tally,
    run_window: tuple[float, float],
    delivered: Delivery,
    statuses: Counter[str],
    floor_sessions: int,
    svc: Services,
) -> None:
    run_s = run_window[1] - run_window[0]
    print(f"\nceiling: bare FastAPI (bench/bare_app.py), {args.workers} workers, HTTPS, {args.staff} connections "
          f"back to back: {len(ceiling) / args.ceiling_seconds:,.0f} requests/s, p50 / p99 / max ms "
          f"{figures(ceiling).replace(' |', ' /')}")  # fmt: skip
    cut = tally.began + args.warmup
    print(f"\nstaff: {args.staff} users ({len(tally.latencies)} operations), think {args.think:g} s ± 50 %, "
          f"{run_s:.0f} s; percentiles after a {args.warmup:g} s warm-up\n")  # fmt: skip
    print("| operation | n | p50 ms | p99 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    errors = Counter(op for op, _, _ in tally.errors)
    total = 0
    for operation, timings in sorted(tally.latencies.items()):
        total += len(timings)
        measured = [ms for began, ms in timings if began >= cut]
        print(f"| {operation} | {len(measured)} | {figures(measured)} | {errors[operation]} |")
    all_measured = [ms for timings in tally.latencies.values() for began, ms in timings if began >= cut]
    print(f"| all | {len(all_measured)} | {figures(all_measured)} | {len(tally.errors)} |")
    rate = len(tally.errors) / total if total else math.nan
    print(f"\nrequests: {total} in {run_s:.0f} s ({total / run_s:.1f}/s); errors {len(tally.errors)} "
          f"(error rate {100 * rate:.2f} %); series booked {tally.booked}")  # fmt: skip
    for operation, status, body in tally.errors[:20]:
        print(f"  error: {operation}: {status} {body}")
    for problem in tally.problems[:20]:
        print(f"  problem: {problem}")
    ended = sum(1 for status in tally.started.values() if status in FINAL)
    missing_in_records = sum(tally.missing.values())
    print(f"\nsessions: the staff started {len(tally.started)}, {ended} of them read back ended "
          f"(missing_count summed over their records: {missing_in_records}); the floor ran {floor_sessions}; "
          f"on record: {dict(statuses)}")  # fmt: skip
    d = delivered
    verdict = "nothing lost" if d.missing == 0 and set(statuses) <= set(FINAL) else "LOST OR UNFINISHED"
    print(f"{verdict}: {d.sent} session messages sent by the devices, {d.stored} stored for their sessions, "
          f"{d.missing} missing, {d.extra} stored but not sent")  # fmt: skip
    for example in d.missing_examples:
        print(f"  missing: session {example[0]} seq {example[1]} ({example[2]})")
    print(f"telemetry during the run: {d.blocks_in_run} blocks ({d.blocks_in_run / run_s:.0f}/s from "
          f"{args.devices} devices: {floor_sessions} on the floor treating all along, "
          f"{args.devices - floor_sessions} in the estheticians' rooms treating part of the time)")  # fmt: skip
    print(f"gateway lag (block handed to paho → stored, received_at): n {len(d.lag_ms)}, p50 / p99 / max ms "
          f"{figures(d.lag_ms).replace(' |', ' /')}")  # fmt: skip
    for name in ("gateway", "api"):
        findings = log_findings(svc.tmp / f"{name}.log")
        print(f"{name} log, warnings and errors: {dict(findings) or 'none'}")
    broker_log = (svc.tmp / "broker.log").read_text(errors="replace")
    print(f"broker log, drops: {[line for line in broker_log.splitlines() if 'dropped' in line][:5] or 'none'}")


def print_machine(engine: Engine) -> None:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}, PostgreSQL {postgres_version(engine)}, "
        f"Mosquitto {mosquitto_version()}, {platform.platform()}; load average before the run {load}\n"
        f"command: {shlex.join(sys.orig_argv)}\ncode: {code_version()}",
        flush=True,
    )


def main() -> None:
    args = parse_args()
    began = time.monotonic()
    rng = random.Random(args.seed)
    run_s = args.minutes * 60
    recreate_database(DATABASE)
    upgrade(DATABASE_URL)
    engine = create_engine(DATABASE_URL)
    print_machine(engine)
    tmp = Path(tempfile.mkdtemp(prefix="galvani-staff-load-"))
    svc = Services(tmp, tmp / "certs", free_port(), free_port(), secrets.token_hex(16), secrets.token_urlsafe(16), {})
    make_certificates(svc.certs, HOSTS)
    devices = pipe = None
    try:
        ceiling, ceiling_cpu = measure_ceiling(svc, args)
        print(f"ceiling measured: {len(ceiling) / args.ceiling_seconds:,.0f} requests/s", flush=True)
        start_broker(svc)
        start_galvani(svc, args.workers)
        with httpx.Client(base_url=svc.base_url, verify=ssl.create_default_context(cafile=svc.ca_file)) as http:
            clinic = build(
                http, engine, DATABASE_URL, admin_password=svc.admin_password, staff=args.staff,
                devices=args.devices, clients=args.clients, run_s=run_s, rng=rng,
            )  # fmt: skip
            tokens = {a.email: log_in(http, a) for a in (*clinic.front_desk, *clinic.estheticians)}
        print(f"clinic: {len(clinic.rooms)} rooms and devices, {len(clinic.all_clients)} clients, "
              f"{len(clinic.front_desk)} front desk and {len(clinic.estheticians)} estheticians signed in, "
              f"{len(clinic.floor_due)} floor rooms; {time.monotonic() - began:.0f} s", flush=True)  # fmt: skip
        devices, pipe = start_devices(svc, clinic, engine, args.press_after)
        floor = start_floor(svc, clinic, engine)
        print(f"devices online, {len(floor)} floor sessions treating; the staff start", flush=True)
        cpu_start = cpu.snapshot(cpu_groups(svc, devices.pid, engine))
        tally = Tally()
        window_start = time.time()
        run = Run(clinic, time.monotonic() + run_s, args.think, tuple(args.treat), tally, rng)
        asyncio.run(staff_run(run, svc.base_url, svc.ca_file, tokens))
        window = (window_start, time.time())
        groups = cpu_groups(svc, devices.pid, engine)
        cpu_used = cpu.percent(cpu_start, cpu.snapshot({k: v + list(cpu_start.seconds[k]) for k, v in groups.items()}))
        print(f"the staff are done after {window[1] - window[0]:.0f} s; stopping the floor", flush=True)
        stop_floor(svc, clinic, floor, tally)
        try:
            wait_until(lambda: unfinished(engine) == 0, "every session ended", SETTLE_S)
        except RuntimeError as exc:
            tally.problems.append(str(exc))  # the report shows what is on record
        time.sleep(2.0)  # the devices' last acks and statuses
        pipe.send("stop")
        if not pipe.poll(READY_S):
            raise RuntimeError("the devices did not say what they sent")
        sent = pipe.recv()
        time.sleep(2.0)
        delivered = delivery(engine, sent, window)
        with engine.connect() as conn:
            on_record = conn.execute(text("SELECT status, count(*) FROM treatment_sessions GROUP BY 1"))
            statuses = Counter({str(status): int(n) for status, n in on_record})
        report(args, ceiling, tally, window, delivered, statuses, len(floor), svc)
        for name, used in (("the ceiling", ceiling_cpu), ("the run", cpu_used)):
            print(f"CPU during {name}, % of one core: " + ", ".join(f"{k} {v:.0f}" for k, v in used.items()))
    finally:
        if devices is not None and devices.is_alive():
            devices.terminate()
        for name in ("api", "gateway", "broker"):
            if name in svc.processes:
                stop_process(svc.processes[name])
        engine.dispose()
        print(f"\nlogs: {tmp}")


if __name__ == "__main__":
    main()
