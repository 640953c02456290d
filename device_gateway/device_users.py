"""The devices' broker users, kept in step with the devices table in a file Mosquitto's password file is made of.

deploy/mosquitto/run.sh puts the gateway's own user and this file together into the broker's password
file, and makes the broker read it again, whenever the file changes.
"""

import logging
import os
import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.broker_passwords import is_broker_hash
from db.models import Device, DeviceStatus
from db.session import transaction
from device_gateway.outage import Outage

logger = logging.getLogger(__name__)
REFRESH_S = 2.0  # a newly registered device may connect this long after (and as long again for the broker)


class DeviceUsersFile:
    """One `device_id:hash` line per device that may connect: every device not revoked."""

    def __init__(self, path: Path, factory: sessionmaker[Session], refresh_s: float = REFRESH_S) -> None:
        self.path = path
        self._factory = factory
        self._refresh_s = refresh_s
        self._written = path.read_text() if path.exists() else None
        self._unusable: list[str] = []
        self._database = Outage(logger, "database")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-device-users", daemon=True)

    def start(self) -> None:
        """Bring the file up to date at once, then every REFRESH_S."""
        self._refresh_or_say_why()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def refresh(self) -> bool:
        """Write the file if the devices' users changed; True when it was written."""
        with transaction(self._factory) as session:
            rows = session.execute(
                select(Device.device_id, Device.mqtt_password_hash)
                .where(Device.status != DeviceStatus.REVOKED)
                .order_by(Device.device_id)
            ).all()
        usable = [row for row in rows if is_broker_hash(row.mqtt_password_hash)]
        self._warn_about_unusable([row.device_id for row in rows if not is_broker_hash(row.mqtt_password_hash)])
        content = "".join(f"{row.device_id}:{row.mqtt_password_hash}\n" for row in usable)
        if content == self._written:
            return False
        _replace(self.path, content)
        self._written = content
        logger.info("the broker's device users are now %d", len(usable))
        return True

    def _warn_about_unusable(self, device_ids: list[str]) -> None:
        if device_ids and device_ids != self._unusable:
            logger.warning(
                "devices %s have passwords the broker cannot check (issued before Galvani kept the "
                "broker's users); give each a new one: POST /api/v1/devices/{id}/mqtt-password",
                ", ".join(device_ids),
            )
        self._unusable = device_ids

    def _run(self) -> None:
        while not self._stopping.wait(self._refresh_s):
            self._refresh_or_say_why()

    def _refresh_or_say_why(self) -> None:
        try:
            self.refresh()
            self._database.recovered()
        except OperationalError:
            self._database.failed("the broker's device users stay as they are")
        except Exception:  # a full disk, a folder not there: say so and try again; never stop the gateway
            logger.exception("could not write the broker's device users to %s", self.path)


def _replace(path: Path, content: str) -> None:
    """Write in full or not at all: the broker must never read half a file."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    partial.chmod(0o600)
    os.replace(partial, path)
