"""A PostgreSQL cluster of a test's own, which the test stops and starts to see what an outage does.

Never the machine's shared server: each cluster lives in a fresh directory, on a free port, listening on
127.0.0.1 only, with trust authentication and fsync off. PostgreSQL refuses to run as root, so under root
every server command runs as the `postgres` system user, in a directory that user owns.
The first cluster of a test run is made with initdb and migrated to head; it is then kept, stopped, as a
template, and every cluster copies its data directory (a tenth of a second instead of two seconds).
"""

import atexit
import functools
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.services import free_port, missing, require_backend

DATABASE = "galvani"
SUPERUSER = "postgres"
START_TIMEOUT_S = 30
# A throwaway cluster: nothing needs to survive a crash of the machine, and fsync costs seconds per test.
SERVER_OPTIONS = "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def _bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: GALVANI_TEST_POSTGRES_BIN, Debian's newest, or the PATH."""
    configured = os.environ.get("GALVANI_TEST_POSTGRES_BIN")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    found = shutil.which("initdb")
    candidates += [Path(found).parent] if found else []
    return next((path for path in candidates if (path / "initdb").is_file() and (path / "pg_ctl").is_file()), None)


def _server_user() -> str | None:
    """The user the server commands run as: `postgres` under root (PostgreSQL refuses root), else None (us)."""
    return SUPERUSER if os.getuid() == 0 else None


def _require_tools() -> Path:
    require_backend("postgresql")  # a cluster is PostgreSQL: its tests are skipped when the run leaves it out
    bin_dir = _bin_dir()
    if bin_dir is None:
        missing("the PostgreSQL server binaries (initdb, pg_ctl)")
    user = _server_user()
    if user is not None and (shutil.which("runuser") is None or not _user_exists(user)):
        missing("a `postgres` system user and runuser, to run PostgreSQL while the tests run as root")
    return bin_dir


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _own_directory() -> Path:
    """A new directory the server user owns; pytest's tmp_path is private to root, so it cannot be used."""
    path = Path(tempfile.mkdtemp(prefix="galvani-pg-"))
    _give_to_server_user(path)
    return path


def _give_to_server_user(path: Path) -> None:
    user = _server_user()
    if user is None:
        return
    owner = pwd.getpwnam(user)
    for item in [path, *path.rglob("*")]:
        os.chown(item, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


class PrivateCluster:
    """One cluster in its own directory on a free port: start, stop (fast: clients lose their connections),
    restart, and the URL of its `galvani` database, migrated to head."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir, self.root, self.port = bin_dir, root, port
        self.data = root / "data"
        self.log = root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def running(self) -> bool:
        return self._pg_ctl("status", check=False).returncode == 0

    def start(self) -> None:
        """Start the server and return once it accepts connections (pg_ctl -w waits for that)."""
        options = f"-p {self.port} -k {shlex.quote(str(self.root))} {SERVER_OPTIONS}"
        self._pg_ctl("start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every client's connection at once and shuts down cleanly, `immediate`
        is a crash (the next start recovers from the WAL)."""
        self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        self.stop()
        self.start()

    def accepting(self) -> bool:
        """Whether a client can connect and run a query now."""
        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=DATABASE, connect_timeout=1
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def wait_until_accepting(self, timeout: float = START_TIMEOUT_S) -> None:
        """Return once the server accepts connections, e.g. after a start from another thread."""
        deadline = time.monotonic() + timeout
        while not self.accepting():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL on port {self.port} did not accept connections:\n{self._log_tail()}")
            time.sleep(0.05)  # polling a port: the server offers nothing to wait on

    def remove(self) -> None:
        """Stop the server if it runs and delete its directory."""
        try:
            if self.data.exists() and self.running:
                self.stop("immediate")  # nothing in it is kept, so no checkpoint is needed
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = _run_as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args], cwd=self.root)
        if check and result.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {result.stderr.strip()}\n{self._log_tail()}")
        return result

    def _log_tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-20:]) if self.log.exists() else "(no server log)"


def _run_as_server_user(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    user = _server_user()
    prefix = ["runuser", "-u", user, "--"] if user else []
    # cwd: the server user may not be allowed into the directory the tests run from.
    return subprocess.run(
        [*prefix, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,  # noqa: S603
        timeout=START_TIMEOUT_S + 10,
    )


@functools.cache
def _template(bin_dir: Path) -> Path:
    """initdb, a `galvani` database migrated to head, and a clean shutdown: the data directory to copy."""
    from db.migrate import upgrade

    cluster = PrivateCluster(bin_dir, _own_directory(), free_port())
    initdb = _run_as_server_user(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(cluster.data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ],
        cwd=cluster.root,
    )
    if initdb.returncode != 0:
        cluster.remove()
        raise RuntimeError(f"initdb failed: {initdb.stderr.strip()}")
    try:
        cluster.start()
        with psycopg.connect(
            host="127.0.0.1", port=cluster.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        upgrade(cluster.url)
        cluster.stop()
    except BaseException:
        cluster.remove()
        raise
    atexit.register(shutil.rmtree, cluster.root, ignore_errors=True)
    return cluster.data


def new_cluster() -> PrivateCluster:
    """A stopped cluster of its own, copied from this run's template; remove() it when done."""
    bin_dir = _require_tools()
    template = _template(bin_dir)
    cluster = PrivateCluster(bin_dir, Path(tempfile.mkdtemp(prefix="galvani-pg-")), free_port())
    shutil.copytree(template, cluster.data, symlinks=True)
    _give_to_server_user(cluster.root)
    return cluster


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A running cluster of this test's own, with `galvani` at head; stopped and deleted afterwards."""
    cluster = new_cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
