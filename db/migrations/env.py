"""Alembic environment: runs migrations on the URL that db.migrate put in the config."""

from alembic import context

import db.models  # noqa: F401  (registers every table on the metadata)
from db.base import Base
from db.session import make_engine

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `galvani migrate`")
run_migrations_online()
