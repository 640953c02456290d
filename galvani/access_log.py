"""uvicorn's access log without query strings (a search, `/api/v1/clients?q=…`, holds clients' names); galvani/logs.py
puts this filter on the access log's handler."""

import logging


class PathWithoutQuery(logging.Filter):
    """Cut the query off the path of each access line; method, path and status stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # uvicorn's (client, method, path, http version, status)
            client, method, path, version, status = args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        return True
