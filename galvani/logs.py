"""How every process logs: JSON lines (one object a line, with the request's id) or text for a terminal.

One logging setup, as a dict, for `galvani api`, `serve` and `gateway` alike: uvicorn applies it in each of its
workers (galvani/cli.py hands it to uvicorn), and `main` applies it in the process it starts in. A line holds
what the code logged, never a request's body or query: no health data and no secret reach a log.
"""

import copy
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from db.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Noisy at INFO: the embedded broker's state machine, and a line per plugin from Alembic at every migration.
CHATTY = ("transitions", "amqtt", "alembic.runtime.plugins")
ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")  # uvicorn's access line, in its order


class JsonLines(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, the request's id, and an error's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which of the API's workers
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line["request_id"] = request_id
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            line |= dict(zip(ACCESS_FIELDS, record.args, strict=True))  # the path is already without its query
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


FORMATTERS: dict[str, Any] = {
    "json": {"()": f"{__name__}.JsonLines"},
    "text": {"format": TEXT_FORMAT},
    "uvicorn": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
    "access": {
        "()": "uvicorn.logging.AccessFormatter",
        "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
    },
}
FILTERS: dict[str, Any] = {
    "request_id": {"()": "api.request_id.WithRequestId"},
    "path_without_query": {"()": "galvani.access_log.PathWithoutQuery"},
}


def logging_config(settings: Settings) -> dict[str, Any]:
    """The dictConfig of every logger: uvicorn's and the root one that the app and the gateway log to."""
    json_lines = settings.resolved_log_format == "json"

    def handler(stream: str, text_formatter: str, *extra_filters: str) -> dict[str, Any]:
        return {
            "class": "logging.StreamHandler",
            "stream": stream,
            "formatter": "json" if json_lines else text_formatter,
            "filters": ["request_id", *extra_filters],
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": copy.deepcopy(FORMATTERS),  # dictConfig may take a factory out of its dict
        "filters": copy.deepcopy(FILTERS),
        "handlers": {
            "default": handler("ext://sys.stderr", "text"),
            "uvicorn": handler("ext://sys.stderr", "uvicorn"),
            "access": handler("ext://sys.stdout", "access", "path_without_query"),
        },
        "root": {"handlers": ["default"], "level": settings.log_level.upper()},
        "loggers": {
            "uvicorn": {"handlers": ["uvicorn"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            **{name: {"level": "WARNING"} for name in CHATTY},
        },
    }


def configure_logging(settings: Settings) -> None:
    """Apply the logging setup to this process."""
    logging.config.dictConfig(logging_config(settings))
