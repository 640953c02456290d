"""`galvani serve | api | gateway | migrate | create-user | …`"""

import argparse
import contextlib
import getpass
import logging
import signal
import sys
import threading

import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from db import migrate
from db.models import Device, DeviceStatus, Role
from db.session import make_engine, make_session_factory, transaction
from db.settings import get_settings
from device_gateway.broker_url import parse_broker_url
from device_gateway.runner import GatewayRunner
from galvani.bootstrap import NewAccount, ensure_first_admin, seed_demo
from galvani.demo import StaffedDevices, seed_demo_appointment, seed_demo_devices

logger = logging.getLogger("galvani")
GRACEFUL_SHUTDOWN_S = 3  # how long a stop waits for open requests, live views among them


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("transitions", "amqtt"):  # state-machine chatter of the embedded broker
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
    simulate.add_argument("--count", type=int, default=None, help="how many devices (default: all in service)")
    simulate.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    simulate.add_argument("--over-current", type=float, default=None, metavar="UA",
                          help="misbehave: samples at this current from the third block on")
    simulate.add_argument("--duplicate-every", type=int, default=None, metavar="N",
                          help="misbehave: send every n-th session message twice")
    simulate.add_argument("--reorder", action="store_true", help="misbehave: send session messages in swapped pairs")
    simulate.add_argument("--malformed-every", type=int, default=None, metavar="N",
                          help="misbehave: follow every n-th session message with invalid JSON")
    simulate.add_argument("--drop-seq", type=int, action="append", default=[], metavar="SEQ",
                          help="misbehave: never send this seq (a gap); may be repeated")
    simulate.set_defaults(command=cmd_simulate)
    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(command=cmd_migrate)

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


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrate.upgrade(get_settings().resolved_database_url)
    print("database is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
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
    devices = StaffedDevices(seed_demo_devices(factory), host=runner.gateway.broker.host,
                             port=runner.gateway.broker.port)
    devices.start()
    appointment = seed_demo_appointment(factory)
    if appointment is not None:
        print(f"Demo: Ada Lovelace is booked in Rose room at {appointment.start_at:%H:%M} UTC. Log in as "
              f"esthetician@galvani.local and POST /api/v1/appointments/{appointment.id}/start; the device "
              f"starts 5 s after it is armed.", flush=True)
    return devices


def _run_uvicorn(app: object, **options: object) -> None:
    """Run uvicorn; the signal it re-raises after its graceful shutdown ends this call, not the process.
    Requests still open after GRACEFUL_SHUTDOWN_S are cancelled: a live view (/devices/{id}/live) left open
    in a browser never ends by itself, and uvicorn would wait for it for good."""
    signal.signal(signal.SIGTERM, _leave_quietly)
    signal.signal(signal.SIGINT, _leave_quietly)
    with contextlib.suppress(_ShutdownSignal):
        uvicorn.run(app, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, **options)  # type: ignore[arg-type]


class _ShutdownSignal(Exception):
    pass


def _leave_quietly(_signum: int, _frame: object) -> None:
    raise _ShutdownSignal


def cmd_api(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    _announce(ensure_first_admin(factory, settings))
    _run_uvicorn("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                 log_level=settings.log_level.lower())
    return 0


def cmd_gateway(_args: argparse.Namespace) -> int:
    runner = GatewayRunner(get_settings())
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runner.start()
    print("gateway running; Ctrl-C stops it", flush=True)
    stop.wait()
    runner.stop()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulated devices for the devices registered in service; they press start 5 s after being armed."""
    settings = get_settings()
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory() as session:
        ids = list(session.scalars(select(Device.device_id).where(Device.status == DeviceStatus.IN_SERVICE)
                                   .order_by(Device.created_at).limit(args.count)))
    if not ids:
        print("no device is registered in service; register one with POST /api/v1/devices", file=sys.stderr)
        return 1
    broker = parse_broker_url(settings.mqtt_url) if settings.mqtt_url else None
    host, port = (broker.host, broker.port) if broker else ("127.0.0.1", settings.embedded_mqtt_port)
    devices = StaffedDevices(ids, host=host, port=port, speed=args.speed, over_current_ua=args.over_current,
                             duplicate_every=args.duplicate_every, reorder=args.reorder,
                             malformed_every=args.malformed_every, drop_seq=args.drop_seq)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    devices.start()
    print(f"simulating {len(ids)} devices on {host}:{port}; Ctrl-C stops them", flush=True)
    stop.wait()
    devices.stop()
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from api.services import users  # the CLI is the composition root; the API's rules apply here too

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


def _announce(account: NewAccount | None) -> None:
    """Show a generated password once, on the terminal only (never in a log)."""
    if account is None:
        return
    if account.password:
        print(f"Created {account.role.value} {account.email} with password: {account.password}", flush=True)
    else:
        print(f"Created {account.role.value} {account.email} (password from GALVANI_ADMIN_PASSWORD)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
