"""Each request's id: the caller's X-Request-ID when it is sane, else a new one; given back in the response's
X-Request-ID and put on every log line written while the request is served."""

import logging
import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What a proxy or a client sends in practice (UUIDs, trace ids): anything else is not copied into the logs.
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def chosen_id(sent: str | None) -> str:
    """The caller's id when it is sane, else a new random one."""
    if sent is not None and SANE_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestId:
    """Pure ASGI middleware (a BaseHTTPMiddleware would run the app in another context, where the id is unset)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
        request_id = chosen_id(sent.decode("latin-1") if sent is not None else None)
        # Not reset afterwards: each request is served in its own task, and the server's own lines about it (the
        # access line, a crash) are written after this returns or raises.
        current_request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


class WithRequestId(logging.Filter):
    """Puts the current request's id on a log record as `request_id` (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True
