"""uvicorn's logging: the access log without query strings (a search, `/api/v1/clients?q=…`, holds clients' names),
in the format of every other line (galvani/logs.py)."""

import logging
from typing import Any


class PathWithoutQuery(logging.Filter):
    """Cut the query off the path of each access line; method, path and status stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # uvicorn's (client, method, path, http version, status)
            client, method, path, version, status = args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        return True


def log_config() -> dict[str, Any]:
    """The whole logging setup, uvicorn's loggers and the root one; a dict, so that every worker applies it."""
    from db.settings import get_settings
    from galvani.logs import logging_config

    return logging_config(get_settings())
