"""What the benchmarks share: their own PostgreSQL databases, free ports, machine facts."""

import argparse
import socket

from sqlalchemy import Engine, create_engine, text

LOOPBACK = "127.0.0.1"
ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/test"


def bench_url(database: str) -> str:
    return f"postgresql+psycopg://127.0.0.1:5432/{database}"


def recreate_database(database: str) -> None:
    """Drop and create one benchmark database (only that one)."""
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        engine.dispose()


def vacuum_analyze(engine: Engine, table: str | None = None) -> None:
    """VACUUM ANALYZE (one table, or all), as autovacuum would have done on settled tables."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {table or ''}"))


def postgres_version(engine: Engine) -> str:
    """The server's version string."""
    with engine.connect() as conn:
        return str(conn.scalar(text("SHOW server_version")))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def int_list(value: str) -> list[int]:
    """'1,4,8' as [1, 4, 8]: distinct positive integers, in the order given (an argparse type)."""
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {value!r}") from None
    if not numbers or min(numbers) < 1 or len(set(numbers)) != len(numbers):
        raise argparse.ArgumentTypeError(f"give distinct positive integers: {value!r}")
    return numbers
