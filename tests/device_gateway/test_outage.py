"""An outage is logged once, then at a slow rate, and its end once: a fake clock stands in for time."""

import logging
import threading

import pytest

from db.base import utcnow
from device_gateway.outage import Outage

logger = logging.getLogger(__name__)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outage(clock: FakeClock) -> Outage:
    return Outage(logger, "database", repeat_every=60.0, clock=clock)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """What the outage logs, INFO and up."""
    caplog.set_level(logging.INFO, logger=__name__)
    return caplog


def _said(lines: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    # read at the call: caplog.records is the list of the test phase running now, not of the fixture's
    return [(record.levelno, record.getMessage()) for record in lines.records if record.name == __name__]


def test_a_hundred_failures_in_ten_seconds_log_one_line(
    outage: Outage, clock: FakeClock, lines: pytest.LogCaptureFixture
) -> None:
    for _ in range(100):
        outage.failed("connection refused")
        clock.now += 0.1
    assert _said(lines) == [(logging.WARNING, "database unreachable: connection refused")]


def test_a_lasting_outage_is_recalled_every_repeat_every(
    outage: Outage, clock: FakeClock, lines: pytest.LogCaptureFixture
) -> None:
    outage.failed("connection refused")
    for _ in range(150):  # 150 s of failures, one a second
        clock.now += 1.0
        outage.failed("connection refused")
    assert _said(lines) == [
        (logging.WARNING, "database unreachable: connection refused"),
        (logging.WARNING, "database still unreachable after 60 s"),
        (logging.WARNING, "database still unreachable after 120 s"),
    ]


def test_recovery_is_logged_once_and_only_after_a_failure(
    outage: Outage, clock: FakeClock, lines: pytest.LogCaptureFixture
) -> None:
    outage.recovered()  # working all along: nothing to say
    assert _said(lines) == []
    outage.failed("timeout")
    clock.now += 5.0
    outage.recovered()
    outage.recovered()
    assert _said(lines) == [
        (logging.WARNING, "database unreachable: timeout"),
        (logging.INFO, "database is back after 5 s"),
    ]


def test_a_new_outage_after_recovery_is_logged_afresh(
    outage: Outage, clock: FakeClock, lines: pytest.LogCaptureFixture
) -> None:
    outage.failed("timeout")
    clock.now += 100.0
    outage.recovered()
    clock.now += 1.0
    outage.failed("connection refused")
    clock.now += 30.0
    outage.failed("connection refused")  # the reminder counts from the new outage, not the old one
    clock.now += 30.0
    outage.failed("connection refused")
    assert _said(lines) == [
        (logging.WARNING, "database unreachable: timeout"),
        (logging.INFO, "database is back after 100 s"),
        (logging.WARNING, "database unreachable: connection refused"),
        (logging.WARNING, "database still unreachable after 60 s"),
    ]


def test_since_and_down_follow_the_outage(outage: Outage, clock: FakeClock) -> None:
    assert outage.since is None and not outage.down
    before = utcnow()
    outage.failed("timeout")
    since = outage.since
    assert since is not None and since.tzinfo is not None and before <= since <= utcnow()
    assert outage.down
    clock.now += 10.0
    outage.failed("timeout")
    assert outage.since == since  # the first failure of this outage, not the latest
    outage.recovered()
    assert outage.since is None and not outage.down
    outage.failed("timeout")
    assert outage.since is not None and outage.since >= since


def test_threads_failing_together_log_one_line(outage: Outage, lines: pytest.LogCaptureFixture) -> None:
    threads_n = 8
    together = threading.Barrier(threads_n, timeout=10)

    def fail_often() -> None:
        together.wait()
        for _ in range(200):
            outage.failed("connection refused")

    threads = [threading.Thread(target=fail_often) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert _said(lines) == [(logging.WARNING, "database unreachable: connection refused")]
