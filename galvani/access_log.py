"""uvicorn's access log without query strings: a search (`/api/v1/clients?q=…`) holds clients' names."""

import copy
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
    """uvicorn's own logging setup with the filter on its access logger; a dict, so every worker applies it."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["path_without_query"] = {"()": f"{__name__}.PathWithoutQuery"}
    config["loggers"]["uvicorn.access"]["filters"] = ["path_without_query"]
    return config
