"""One part the gateway depends on (the database, the broker) being away: said once, then now and then.

A gateway retries many times a second while a part is down; logging each failure would bury the one line
that matters, and saying nothing more would leave a reader unsure that the outage still lasts.
"""

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from db.base import utcnow

REPEAT_EVERY_S = 60.0


class Outage:
    """The outage of one part: its start logged once, a reminder at most every `repeat_every` s, its end once."""

    def __init__(
        self,
        logger: logging.Logger,
        part: str,
        *,
        repeat_every: float = REPEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.part = part
        self._repeat_every = repeat_every
        self._clock = clock
        self._lock = threading.Lock()  # several gateway threads report the same part
        self._started: float | None = None  # by `clock`, which wall-clock changes do not move
        self._reminded = 0.0
        self._since: datetime | None = None

    @property
    def down(self) -> bool:
        """The last report was a failure."""
        return self._started is not None

    @property
    def since(self) -> datetime | None:
        """When the current outage began (aware UTC), for health reports; None while the part works."""
        return self._since

    def failed(self, reason: str) -> None:
        """The part did not answer: say so if this starts an outage, or if the last word is old."""
        # Logged under the lock, so that a racing recovered() cannot have its line come first.
        with self._lock:
            now = self._clock()
            if self._started is None:
                self._started, self._reminded, self._since = now, now, utcnow()
                self._logger.warning("%s unreachable: %s", self.part, reason)
            elif now - self._reminded >= self._repeat_every:
                self._reminded = now
                self._logger.warning("%s still unreachable after %d s", self.part, now - self._started)

    def recovered(self) -> None:
        """The part answered again: say so once, if it had been away."""
        with self._lock:
            if self._started is None:
                return
            lasted = self._clock() - self._started
            self._started, self._since = None, None
            self._logger.info("%s is back after %d s", self.part, lasted)
