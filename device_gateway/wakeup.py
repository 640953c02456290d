"""Waking the outbox sender: at once when a command is written, in this process or (PostgreSQL) in any."""

import logging

import psycopg
from sqlalchemy import Engine

from db.outbox import CHANNEL, command_written

logger = logging.getLogger(__name__)


class OutboxWakeup:
    """Waits for a command: an in-process event, and on PostgreSQL a LISTEN on the outbox channel."""

    def __init__(self, engine: Engine) -> None:
        self._connection: psycopg.Connection[object] | None = None
        if engine.dialect.name == "postgresql":
            url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._connection = psycopg.connect(url, autocommit=True)
            self._connection.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> None:
        """Return when a command was written since the last call, or after `timeout` seconds."""
        if not command_written.is_set() and self._connection is not None:
            try:
                for _ in self._connection.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.OperationalError:
                logger.warning("lost the LISTEN connection; polling the outbox instead")
                self._connection = None
        else:
            command_written.wait(timeout)
        command_written.clear()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
