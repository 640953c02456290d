"""`galvani simulate`: simulated devices for the registered devices, or for those in a credentials file, on the
configured broker (over TLS for an mqtts:// GALVANI_MQTT_URL)."""

import argparse
import signal
import sys
import threading

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from db.models import Device, DeviceStatus
from db.session import make_engine, make_session_factory
from db.settings import Settings, get_settings
from device_gateway.broker_url import parse_broker_url
from galvani.credentials import CredentialsError, read_credentials
from galvani.demo import StaffedDevices


def simulate(args: argparse.Namespace) -> int:
    """Simulated devices for the devices registered in service, or for those in --credentials with their
    passwords; they press start 5 s after being armed."""
    settings = get_settings()
    try:
        ids, passwords = _devices_to_simulate(settings, args)
    except _NotSimulated as exc:
        print(f"no device simulated: {exc}", file=sys.stderr)
        return 1
    broker = parse_broker_url(settings.mqtt_url, settings.mqtt_ca_file) if settings.mqtt_url else None
    host, port = (broker.host, broker.port) if broker else ("127.0.0.1", settings.embedded_mqtt_port)
    tls = broker.tls if broker else None
    devices = StaffedDevices(
        ids,
        host=host,
        port=port,
        tls=tls,
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
        print(_not_online(devices, f"{host}:{port}", args, tls=tls is not None), file=sys.stderr)
        return 1
    print(f"simulating {len(ids)} devices on {host}:{port}; Ctrl-C stops them", flush=True)
    stop.wait()
    devices.stop()
    return 0


class _NotSimulated(Exception):
    """Why no device can be simulated, in words for the operator."""


def _devices_to_simulate(settings: Settings, args: argparse.Namespace) -> tuple[list[str], dict[str, str] | None]:
    """The device_ids to simulate and their passwords: those in --credentials, or the devices in service."""
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


def _not_online(devices: StaffedDevices, broker: str, args: argparse.Namespace, *, tls: bool) -> str:
    """Why the simulated devices are not online, in words for the operator."""
    refused = {device_id: device.refused for device_id, device in devices.simulator.devices.items() if device.refused}
    if not refused:
        silent = f"no device simulated: the broker at {broker} did not let them in within {args.connect_timeout:g} s"
        if tls:  # a certificate refused ends the connection before the broker can say anything
            silent += (
                "; over TLS, check that GALVANI_MQTT_CA_FILE is the CA that signed the broker's certificate and "
                "that the certificate names the host in GALVANI_MQTT_URL"
            )
        return silent
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
