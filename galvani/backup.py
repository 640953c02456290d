"""Backing up the PostgreSQL database with pg_dump, and restoring a backup into an empty database with pg_restore.

A backup is pg_dump's custom format: every table, the delivered-current record of every session included, with the
sequences' positions, in one consistent snapshot taken while Galvani runs. The password goes to the PostgreSQL tools
in their environment, never on a command line that `ps` shows."""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url

from db import migrate


class BackupError(Exception):
    """Why a backup or a restore could not be made, in words for the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size_bytes: int
    tables: int


def backup(database_url: str, path: Path) -> Backup:
    """Write the whole database to `path` (pg_dump's custom format), then read the file back to check it."""
    url = _postgres(database_url)
    if path.exists():
        raise BackupError(f"{path} already exists; a backup never overwrites a file. Choose a new name.")
    partial = path.with_name(path.name + ".partial")
    try:
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}"], url)
        tables = _tables_in(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(path)
    return Backup(path=path, size_bytes=path.stat().st_size, tables=tables)


def restore(database_url: str, path: Path) -> None:
    """Restore `path` into the database, which must be empty, in one transaction; then migrate it, so that a backup
    made by an older Galvani comes up to this one's schema."""
    url = _postgres(database_url)
    if not path.is_file():
        raise BackupError(f"There is no backup file at {path}.")
    present = _table_count(database_url)
    if present:
        raise BackupError(
            f"The database {url.database} already has {present} tables. A backup is restored only into an empty "
            "database, so that nothing of what is there is mixed with it or lost: create a new database and point "
            "GALVANI_DATABASE_URL at it."
        )
    _run(
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", str(path)],
        url,
        database=True,
    )
    migrate.upgrade(database_url)


def _postgres(database_url: str) -> URL:
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise BackupError(
            "galvani backup and restore work on PostgreSQL. The embedded database is one SQLite file: stop Galvani "
            f"and copy {url.database} instead."
        )
    return url


def _tables_in(path: Path) -> int:
    """How many tables' data the backup holds, read from its table of contents (an unreadable file fails here)."""
    listing = subprocess.run(  # noqa: S603 (a list of arguments, no shell: the operator's own file name)
        [_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        raise BackupError(f"The backup written to {path} cannot be read back: {listing.stderr.strip()}")
    return sum(" TABLE DATA " in line for line in listing.stdout.splitlines())


def _table_count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return len(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _run(command: list[str], url: URL, *, database: bool = False) -> None:
    """Run a PostgreSQL tool against `url`: the database name as its last argument (pg_dump) or as --dbname
    (pg_restore, `database`); host, port and user as PG* variables, and the password too."""
    env = os.environ | {
        name: str(value)
        for name, value in {
            "PGHOST": url.host,
            "PGPORT": url.port,
            "PGUSER": url.username,
            "PGPASSWORD": url.password,
        }.items()
        if value is not None
    }
    target = [f"--dbname={url.database}"] if database else [str(url.database)]
    done = subprocess.run(  # noqa: S603 (a list of arguments, no shell: the operator's own settings and file)
        [_tool(command[0]), *command[1:], *target], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed here. Install PostgreSQL's client tools of the server's major version or "
            "newer (README: Backups)."
        )
    return found
