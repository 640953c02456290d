"""The private PostgreSQL cluster that fault tests stop and start (tests/postgres_cluster.py)."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from db.migrate import alembic_config
from db.session import make_engine
from tests.postgres_cluster import PrivateCluster, private_cluster
from tests.services import POSTGRES_ADMIN_URL


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture
def engine(cluster: PrivateCluster) -> Iterator[Engine]:
    engine = make_engine(cluster.url)
    yield engine
    engine.dispose()


def test_the_database_is_migrated_to_head(engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head


def test_it_is_a_throwaway_cluster_of_its_own(cluster: PrivateCluster, engine: Engine) -> None:
    assert cluster.port != make_url(POSTGRES_ADMIN_URL).port  # never the machine's shared server
    with engine.connect() as conn:
        assert conn.scalar(text("SHOW listen_addresses")) == "127.0.0.1"
        assert conn.scalar(text("SHOW fsync")) == "off"
        assert conn.scalar(text("SHOW port")) == str(cluster.port)


def test_data_survives_a_stop_and_a_start(cluster: PrivateCluster, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE kept (note text)"))
        conn.execute(text("INSERT INTO kept VALUES ('written before the outage')"))
    cluster.stop()
    cluster.start()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT note FROM kept")) == "written before the outage"


def test_a_stop_kills_open_connections_and_refuses_new_ones(cluster: PrivateCluster, engine: Engine) -> None:
    held = engine.connect()
    assert held.scalar(text("SELECT 1")) == 1
    cluster.stop()
    with pytest.raises(OperationalError):
        held.scalar(text("SELECT 1"))  # the open connection died with the server
    held.close()
    with pytest.raises(OperationalError), engine.connect():
        pass
    assert not cluster.accepting()
    with pytest.raises(TimeoutError):
        cluster.wait_until_accepting(timeout=0.2)

    cluster.start()
    cluster.wait_until_accepting()
    with engine.connect() as conn:  # the same engine works again: its pool drops the dead connection
        assert conn.scalar(text("SELECT 1")) == 1


def test_restart_ends_connections_and_comes_back(cluster: PrivateCluster, engine: Engine) -> None:
    held = engine.connect()
    held.scalar(text("SELECT 1"))
    cluster.restart()
    with pytest.raises(OperationalError):
        held.scalar(text("SELECT 1"))
    held.close()
    assert cluster.accepting()


def test_leaving_the_block_stops_the_server_and_deletes_its_files() -> None:
    with private_cluster() as cluster:
        root: Path = cluster.root
        assert cluster.accepting()
    assert not root.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", cluster.port), timeout=1).close()
