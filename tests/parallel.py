"""How the suite shares the machine's cores under pytest-xdist (`./run-tests` runs it on every core).

Tests go to the workers a file and database at a time (module fixtures are made once per database at most), and
every test of tests/web/ goes to one worker (one `galvani serve --demo` and one Chromium for the whole session).
The slowest groups are handed out first, so that the workers finish together. A test marked `alone` runs while no
other test does: it loads the CPU on purpose, or times something that another worker's load would make flaky.
"""

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

from tests.services import KNOWN_BACKENDS

# Each of these groups takes a minute or more: handed out first, they leave the short files to fill the end.
SLOWEST_FIRST = (
    "tests/web",
    "tests/api/test_schemathesis.py",
    "tests/test_cli.py",
)


def group_of(nodeid: str) -> str:
    """The scheduling group of a test: tests/web as a whole; else its file, and the database it runs on.

    The database is part of the group because `database_url` is a session fixture with a parameter: a worker that
    went from a file's SQLite tests to its PostgreSQL tests and on to the next file's SQLite tests would drop and
    migrate a database at every turn. Grouped so, each worker runs the SQLite groups, then the PostgreSQL ones."""
    path, _, name = nodeid.partition("::")
    if path.startswith("tests/web/"):
        return "tests/web"
    params = name[name.find("[") + 1 : -1].split("-") if name.endswith("]") else []
    backend = next((known for known in KNOWN_BACKENDS if known in params), None)
    return f"{path} on {backend}" if backend else path


def _rank(nodeid: str) -> int:
    path = group_of(nodeid).split(" on ")[0]
    return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)


def slowest_groups_first(items: list[pytest.Item]) -> None:
    """Put the slowest groups first, keeping the order otherwise (run with `--no-loadscope-reorder`)."""
    items.sort(key=lambda item: _rank(item.nodeid))


class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """`--dist loadgroup` by group_of(). pytest-xdist's own loadgroup reads `xdist_group` marks through a suffix it
    adds to the node id, which pytest 9.2 no longer keeps (pytest-xdist issue 1386): every test would go alone."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid)


def _lock_path() -> Path | None:
    """A lock file that only the workers of this run share; None when the tests run in one process."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return Path(tempfile.gettempdir()) / f"galvani-tests-{run}.lock" if run else None


def _gate(path: Path) -> Path:
    return path.with_suffix(".gate")


def remove_lock_files() -> None:
    """At the end of a worker's session: the other worker, if still running, makes them again when it needs them."""
    path = _lock_path()
    if path is not None:
        path.unlink(missing_ok=True)
        _gate(path).unlink(missing_ok=True)


@contextmanager
def turn(item: pytest.Item) -> Iterator[None]:
    """Hold this test's turn: shared for a test that may run beside others, exclusive for one marked `alone`.

    A readers-writer lock made of two flock(2) files: a test first passes through the gate, which a waiting
    `alone` test keeps shut, so that the other worker's stream of tests cannot starve it."""
    path = _lock_path()
    if path is None:
        yield
        return
    alone = item.get_closest_marker("alone") is not None
    with path.open("a") as room, _gate(path).open("a") as gate:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
