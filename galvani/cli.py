"""`galvani serve | api | gateway | migrate | create-user | gateway-health | certificates | …`

Each command imports what it needs when it runs: `gateway-health` runs every few seconds as compose's health
check, and importing the API and the gateway for it would cost a second of CPU each time.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from db.models import Role
from db.settings import Settings, get_settings
from galvani.logs import configure_logging, logging_config

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from device_gateway.runner import GatewayRunner
    from galvani.bootstrap import AdminNeeded, NewAccount
    from galvani.demo import StaffedDevices

logger = logging.getLogger("galvani")
GRACEFUL_SHUTDOWN_S = 3  # how long a stop waits for open requests, live views among them
# How long a worker may take to answer uvicorn's health ping (uvicorn's default is 5 s). Four workers importing the
# app at once on a 2-core server took longer, so uvicorn killed them as hung ("Child process died") and started
# them again, for ever. A worker that really hangs is now replaced after a minute instead of 5 s.
WORKER_HEALTHCHECK_S = 60


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as invalid:
        for problem in _settings_problems(invalid):
            print(f"Galvani cannot start: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings)  # JSON lines or text (GALVANI_LOG_FORMAT), as uvicorn's workers log; quiets CHATTY
    return int(args.command(args) or 0)


def _settings_problems(invalid: ValidationError) -> list[str]:
    """Each refused setting in a sentence that names its environment variable (no traceback, no value of a secret:
    pydantic's own text would quote the value given)."""
    problems = []
    for error in invalid.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if "GALVANI_" not in message and error["loc"]:
            message = f"GALVANI_{str(error['loc'][0]).upper()}: {message}"
        problems.append(message)
    return problems


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="galvani", description="The Galvani clinic service.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate, then run the API and the gateway in one process")
    _add_http_options(serve)
    serve.add_argument("--demo", action="store_true", help="add demo staff and clients")
    serve.set_defaults(command=cmd_serve)

    api = commands.add_parser("api", help="run the API only (production: the gateway runs apart)")
    _add_http_options(api)
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    api.set_defaults(command=cmd_api)

    commands.add_parser("gateway", help="run the device gateway only").set_defaults(command=cmd_gateway)

    simulate = commands.add_parser("simulate", help="run simulated devices for the registered devices")
    which = simulate.add_mutually_exclusive_group()
    which.add_argument("--count", type=int, default=None, help="how many devices (default: all in service)")
    which.add_argument(
        "--credentials",
        type=Path,
        default=None,
        metavar="FILE",
        help="exactly the devices in FILE, one device_id:password a line (for a broker that asks "
        "for passwords; no database needed)",
    )
    simulate.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="how long every device may take to come online (default 10 s)",
    )
    simulate.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    simulate.add_argument(
        "--over-current",
        type=float,
        default=None,
        metavar="UA",
        help="misbehave: samples at this current from the third block on",
    )
    simulate.add_argument(
        "--duplicate-every",
        type=int,
        default=None,
        metavar="N",
        help="misbehave: send every n-th session message twice",
    )
    simulate.add_argument("--reorder", action="store_true", help="misbehave: send session messages in swapped pairs")
    simulate.add_argument(
        "--malformed-every",
        type=int,
        default=None,
        metavar="N",
        help="misbehave: follow every n-th session message with invalid JSON",
    )
    simulate.add_argument(
        "--drop-seq",
        type=int,
        action="append",
        default=[],
        metavar="SEQ",
        help="misbehave: never send this seq (a gap); may be repeated",
    )
    simulate.set_defaults(command=cmd_simulate)
    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(command=cmd_migrate)
    _add_certificates(commands)
    backup = commands.add_parser("backup", help="write the whole PostgreSQL database to a new file (pg_dump)")
    backup.add_argument("file", type=Path, help="the backup file to make; never overwritten")
    backup.set_defaults(command=cmd_backup)
    restore = commands.add_parser("restore", help="restore a backup into an empty PostgreSQL database, then migrate")
    restore.add_argument("file", type=Path, help="a file made by galvani backup")
    restore.set_defaults(command=cmd_restore)
    commands.add_parser(
        "gateway-health",
        help="print the gateway's health from the file it writes; exit 1 when it is down, silent or unknown",
    ).set_defaults(command=cmd_gateway_health)

    create_user = commands.add_parser("create-user", help="add a staff account")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--full-name", required=True)
    create_user.add_argument("--role", required=True, choices=[r.value for r in Role])
    create_user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create_user.set_defaults(command=cmd_create_user)
    return parser


def _add_http_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


def _add_certificates(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    certificates = commands.add_parser(
        "certificates",
        help="make the clinic CA (once) and the certificates of the staff HTTPS site and the broker",
        description="Makes FOLDER/ca.pem (the clinic CA: give it to devices and staff browsers) with its key "
        "ca-key.pem, unless they are there already, then https.pem and broker.pem with their keys, signed by it. "
        "Run it again to renew them or to add a host: the CA stays, so devices need nothing new.",
    )
    certificates.add_argument("folder", type=Path, metavar="FOLDER", help="where the certificates are kept, e.g. certs")
    certificates.add_argument(
        "--host",
        dest="hosts",
        action="append",
        required=True,
        metavar="NAME",
        help="a host name or IP address by which staff and devices reach the server; repeat for each "
        "(the broker's certificate also names `mosquitto`, the name the gateways use inside docker compose)",
    )
    certificates.add_argument(
        "--new-ca",
        action="store_true",
        help="replace the clinic CA that is there: every device and browser then needs the new ca.pem",
    )
    certificates.set_defaults(command=cmd_certificates)


def cmd_certificates(args: argparse.Namespace) -> int:
    from galvani.certificates import CertificateError, make_certificates

    try:
        made = make_certificates(args.folder, args.hosts, new_ca=args.new_ca)
    except CertificateError as problem:
        print(f"no certificate made: {problem}", file=sys.stderr)
        return 1
    ca = "made a new clinic CA" if made.new_ca else "kept the clinic CA"
    print(
        f"{ca} in {made.folder / 'ca.pem'} (devices and staff browsers trust it); https.pem and broker.pem for "
        f"{', '.join(made.hosts)}, valid until {made.expires:%Y-%m-%d}. Keep ca-key.pem away from the server."
    )
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from galvani.backup import BackupError, backup

    try:
        made = backup(get_settings().resolved_database_url, args.file)
    except BackupError as problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"backed up {made.tables} tables to {made.path} ({made.size_bytes:,} bytes)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from galvani.backup import BackupError, restore

    try:
        restore(get_settings().resolved_database_url, args.file)
    except BackupError as problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"restored {args.file}; the database is up to date")
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from db import migrate

    migrate.upgrade(get_settings().resolved_database_url)
    print("database is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from api.app import create_app
    from db import migrate
    from db.session import make_engine, make_session_factory
    from device_gateway.runner import GatewayRunner
    from galvani.bootstrap import ensure_clinic_settings, ensure_first_admin, seed_demo
    from galvani.https import https_options

    settings = get_settings()
    tls = https_options(settings)
    migrate.upgrade(settings.resolved_database_url)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    _announce(ensure_first_admin(factory, settings))
    _say(ensure_clinic_settings(factory, settings, demo=args.demo))
    if args.demo:
        for account in seed_demo(factory):
            _announce(account)
    runner = GatewayRunner(settings)
    runner.start()
    devices = _demo_devices(factory, runner) if args.demo else None
    try:
        app = create_app(settings, session_factory=factory)
        scheme = "https" if tls else "http"
        print(f"Galvani is ready at {scheme}://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
        _run_uvicorn(app, settings, host=args.host, port=args.port, **tls)
    finally:
        if devices:
            devices.stop()
        runner.stop()
    return 0


def _demo_devices(factory: sessionmaker[Session], runner: GatewayRunner) -> StaffedDevices:
    """Simulated devices in the demo rooms, on the gateway's broker."""
    from galvani.demo import StaffedDevices, seed_demo_appointment, seed_demo_devices

    broker = runner.gateway.broker
    devices = StaffedDevices(seed_demo_devices(factory), host=broker.host, port=broker.port, tls=broker.tls)
    devices.start()
    appointment = seed_demo_appointment(factory)
    if appointment is not None:
        print(
            f"Demo: Ada Lovelace is booked in Rose room at {appointment.start_at:%H:%M} UTC. Log in as "
            f"esthetician@galvani.local and POST /api/v1/appointments/{appointment.id}/start; the device "
            f"starts 5 s after it is armed.",
            flush=True,
        )
    return devices


def _run_uvicorn(app: object, settings: Settings, **options: object) -> None:
    """Run uvicorn; the signal it re-raises after its graceful shutdown ends this call, not the process.
    Requests still open after GRACEFUL_SHUTDOWN_S are cancelled: a live view (/devices/{id}/live) left open
    in a browser never ends by itself, and uvicorn would wait for it for good. The access log leaves out query
    strings, which hold what staff searched for."""
    import uvicorn

    signal.signal(signal.SIGTERM, _leave_quietly)
    signal.signal(signal.SIGINT, _leave_quietly)
    options |= {"log_config": logging_config(settings), "log_level": settings.log_level.lower()}
    with contextlib.suppress(_ShutdownSignal):
        # options are uvicorn.run's own keyword arguments, passed through from the callers
        uvicorn.run(app, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, **options)  # type: ignore[arg-type]


class _ShutdownSignal(Exception):
    pass


def _leave_quietly(_signum: int, _frame: object) -> None:
    raise _ShutdownSignal


def cmd_api(args: argparse.Namespace) -> int:
    from db.session import make_engine, make_session_factory
    from galvani.bootstrap import ensure_clinic_settings, ensure_first_admin
    from galvani.https import https_options
    from galvani.metrics_dir import share_metrics_across_workers

    settings = get_settings()
    tls = https_options(settings)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    _announce(ensure_first_admin(factory, settings))
    _say(ensure_clinic_settings(factory, settings))
    share_metrics_across_workers()  # before any worker starts: /metrics then adds up every worker's requests
    _run_uvicorn(
        "api.app:create_app",
        settings,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        **tls,
    )
    return 0


def cmd_gateway(_args: argparse.Namespace) -> int:
    from device_gateway.runner import GatewayRunner

    runner = GatewayRunner(get_settings())
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runner.start()
    print("gateway running; Ctrl-C stops it", flush=True)
    while not stop.wait(1.0):
        if runner.gateway.fatal.is_set():  # a part failed for good: exit, so that the supervisor restarts us
            print("the gateway cannot recover; exiting so that it is started again", file=sys.stderr, flush=True)
            break
    runner.stop()
    return 1 if runner.gateway.fatal.is_set() else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from galvani.simulate import simulate

    return simulate(args)


def cmd_gateway_health(_args: argparse.Namespace) -> int:
    """One line on the gateway's health from the file it writes every second; 0 while it can stop devices."""
    from galvani.gateway_health import judge

    verdict = judge(get_settings().resolved_gateway_health_file, now=datetime.now(UTC))
    print(verdict.line)
    return 0 if verdict.healthy else 1


def cmd_create_user(args: argparse.Namespace) -> int:
    from api.services import users  # the CLI is the composition root; the API's rules apply here too
    from db.session import make_engine, make_session_factory, transaction

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    if len(password) < 10:
        print("the password must be at least 10 characters", file=sys.stderr)
        return 2
    factory = make_session_factory(make_engine(get_settings().resolved_database_url))
    try:
        with transaction(factory) as session:
            users.add(session, email=args.email, password=password, full_name=args.full_name, role=Role(args.role))
    except Exception as exc:  # a duplicate email: say it plainly
        print(f"not created: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 1
    print(f"created {args.role} {args.email}")
    return 0


def _say(line: str | None) -> None:
    if line:
        print(line, flush=True)


def _announce(account: NewAccount | AdminNeeded | None) -> None:
    """Show a generated password once, on the terminal only (development; production makes none up)."""
    from galvani.bootstrap import AdminNeeded

    if account is None:
        return
    if isinstance(account, AdminNeeded):
        print(account.how, flush=True)
    elif account.password:
        print(f"Created {account.role.value} {account.email} with password: {account.password}", flush=True)
    else:
        print(f"Created {account.role.value} {account.email} (password from GALVANI_ADMIN_PASSWORD)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
