"""`galvani serve | api | gateway | migrate | create-user | gateway-health | …`

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

from db.models import Role
from db.settings import Settings, get_settings

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
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # state-machine chatter of the embedded broker, and a line per plugin from Alembic at every migration
    for chatty in ("transitions", "amqtt", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return int(args.command(args) or 0)


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
    from galvani.bootstrap import ensure_first_admin, seed_demo

    settings = get_settings()
    migrate.upgrade(settings.resolved_database_url)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    _announce(ensure_first_admin(factory, settings))
    if args.demo:
        for account in seed_demo(factory):
            _announce(account)
    runner = GatewayRunner(settings)
    runner.start()
    devices = _demo_devices(factory, runner) if args.demo else None
    try:
        app = create_app(settings, session_factory=factory)
        print(f"Galvani is ready at http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
        _run_uvicorn(app, host=args.host, port=args.port, log_level=settings.log_level.lower())
    finally:
        if devices:
            devices.stop()
        runner.stop()
    return 0


def _demo_devices(factory: sessionmaker[Session], runner: GatewayRunner) -> StaffedDevices:
    """Simulated devices in the demo rooms, on the gateway's broker."""
    from galvani.demo import StaffedDevices, seed_demo_appointment, seed_demo_devices

    devices = StaffedDevices(
        seed_demo_devices(factory), host=runner.gateway.broker.host, port=runner.gateway.broker.port
    )
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


def _run_uvicorn(app: object, **options: object) -> None:
    """Run uvicorn; the signal it re-raises after its graceful shutdown ends this call, not the process.
    Requests still open after GRACEFUL_SHUTDOWN_S are cancelled: a live view (/devices/{id}/live) left open
    in a browser never ends by itself, and uvicorn would wait for it for good. The access log leaves out query
    strings, which hold what staff searched for."""
    import uvicorn

    from galvani.access_log import log_config

    signal.signal(signal.SIGTERM, _leave_quietly)
    signal.signal(signal.SIGINT, _leave_quietly)
    options["log_config"] = log_config()
    with contextlib.suppress(_ShutdownSignal):
        # options are uvicorn.run's own keyword arguments, passed through from the callers
        uvicorn.run(app, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, **options)  # type: ignore[arg-type]


class _ShutdownSignal(Exception):
    pass


def _leave_quietly(_signum: int, _frame: object) -> None:
    raise _ShutdownSignal


def cmd_api(args: argparse.Namespace) -> int:
    from db.session import make_engine, make_session_factory
    from galvani.bootstrap import ensure_first_admin

    settings = get_settings()
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    _announce(ensure_first_admin(factory, settings))
    _run_uvicorn(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        log_level=settings.log_level.lower(),
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
    """Simulated devices for the devices registered in service, or for those in --credentials with their
    passwords; they press start 5 s after being armed."""
    from device_gateway.broker_url import parse_broker_url
    from galvani.demo import StaffedDevices

    settings = get_settings()
    try:
        ids, passwords = _devices_to_simulate(settings, args)
    except _NotSimulated as exc:
        print(f"no device simulated: {exc}", file=sys.stderr)
        return 1
    broker = parse_broker_url(settings.mqtt_url) if settings.mqtt_url else None
    host, port = (broker.host, broker.port) if broker else ("127.0.0.1", settings.embedded_mqtt_port)
    devices = StaffedDevices(
        ids,
        host=host,
        port=port,
        passwords=passwords,
        speed=args.speed,
        over_current_ua=args.over_current,
        duplicate_every=args.duplicate_every,
        reorder=args.reorder,
        malformed_every=args.malformed_every,
        drop_seq=args.drop_seq,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        devices.start(timeout=args.connect_timeout)
    except TimeoutError:
        print(_not_online(devices, f"{host}:{port}", args), file=sys.stderr)
        return 1
    print(f"simulating {len(ids)} devices on {host}:{port}; Ctrl-C stops them", flush=True)
    stop.wait()
    devices.stop()
    return 0


class _NotSimulated(Exception):
    """Why no device can be simulated, in words for the operator."""


def _devices_to_simulate(settings: Settings, args: argparse.Namespace) -> tuple[list[str], dict[str, str] | None]:
    """The device_ids to simulate and their passwords: those in --credentials, or the devices in service."""
    from sqlalchemy.exc import OperationalError

    from galvani.credentials import CredentialsError, read_credentials

    if args.credentials:
        try:
            passwords = read_credentials(args.credentials)
        except CredentialsError as exc:
            raise _NotSimulated(str(exc)) from None
        return list(passwords), passwords
    try:
        ids = _devices_in_service(settings, args.count)
    except OperationalError as exc:
        reason = str(exc.orig or exc).splitlines()[0]
        raise _NotSimulated(
            f"the database does not answer ({reason}); name the devices with --credentials FILE instead"
        ) from None
    if not ids:
        raise _NotSimulated("none is registered in service; register one with POST /api/v1/devices")
    return ids, None


def _devices_in_service(settings: Settings, count: int | None) -> list[str]:
    """The device_ids of up to `count` devices in service, oldest first."""
    from sqlalchemy import select

    from db.models import Device, DeviceStatus
    from db.session import make_engine, make_session_factory

    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory() as session:
        return list(
            session.scalars(
                select(Device.device_id)
                .where(Device.status == DeviceStatus.IN_SERVICE)
                .order_by(Device.created_at)
                .limit(count)
            )
        )


def _not_online(devices: StaffedDevices, broker: str, args: argparse.Namespace) -> str:
    """Why the simulated devices are not online, in words for the operator."""
    refused = {device_id: device.refused for device_id, device in devices.simulator.devices.items() if device.refused}
    if not refused:
        return f"no device simulated: the broker at {broker} did not let them in within {args.connect_timeout:g} s"
    lines = [
        f"no device simulated: the broker at {broker} refused "
        + ", ".join(f"{device_id} ({reason})" for device_id, reason in refused.items())
    ]
    if args.credentials:
        lines.append(
            f"check those devices' passwords in {args.credentials} (the API shows a device's password once; "
            "POST /api/v1/devices/{id}/mqtt-password issues a new one)"
        )
    else:
        lines.append("a broker that asks for passwords needs them: --credentials FILE, one device_id:password a line")
    return "\n".join(lines)


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
