"""Waking the outbox sender: at once when a command is written, in this process or (PostgreSQL) in any."""

import logging
import time

import psycopg
from sqlalchemy import Engine

from db.outbox import CHANNEL, command_written

logger = logging.getLogger(__name__)
LISTEN_RETRY_S = 5.0  # while the LISTEN connection is lost, the sender polls and tries again this often


class OutboxWakeup:
    """Waits for a command: an in-process event, and on PostgreSQL a LISTEN on the outbox channel, connected
    when first needed and again after it is lost (a database restart), polling meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self._url: str | None = None
        if engine.dialect.name == "postgresql":
            self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection: psycopg.Connection[object] | None = None
        self._retry_at = 0.0

    def wait(self, timeout: float) -> None:
        """Return when a command was written since the last call, or after `timeout` seconds."""
        connection = None if command_written.is_set() else self._listening()
        if connection is None:
            command_written.wait(timeout)
        else:
            try:
                for _ in connection.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.OperationalError:
                logger.warning("lost the LISTEN connection; polling the outbox until it is back")
                self.close()
        command_written.clear()

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def _listening(self) -> psycopg.Connection[object] | None:
        if self._connection is None and self._url is not None and time.monotonic() >= self._retry_at:
            try:
                self._connection = psycopg.connect(self._url, autocommit=True, connect_timeout=2)
                self._connection.execute(f"LISTEN {CHANNEL}")
            except psycopg.OperationalError:
                self.close()  # the database is away: the sender says so; poll until the next try
                self._retry_at = time.monotonic() + LISTEN_RETRY_S
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
