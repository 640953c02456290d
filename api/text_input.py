"""Refuse text no database can store (NUL, broken characters) in any input, before a route sees it."""

import json
import re
from collections import deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.body_limit import replay
from api.errors import InvalidInput, error_response

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = "must not contain the invisible NUL character (code 0)"
BROKEN_MESSAGE = "must not contain a broken character (half of a two-part character, such as an emoji)"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseUnstorableText:
    """Pure ASGI middleware: checks the path, every query parameter, form field and string of a JSON body.

    PostgreSQL refuses a NUL in text (a 500 if it got that far) and SQLite stores it silently; a lone UTF-16
    surrogate from a JSON escape cannot be encoded for either. One check here covers every text input.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        problem = _first_problem(_path_and_query(scope)) or _first_problem(
            await _body_texts(scope, replay(body, receive), body)
        )
        if problem is not None:
            await error_response(problem)(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


def _first_problem(texts: Iterator[tuple[str, str]]) -> InvalidInput | None:
    for field, text in texts:
        found = _UNSTORABLE.search(text)
        if found:
            message = NUL_MESSAGE if found.group() == "\x00" else BROKEN_MESSAGE
            return InvalidInput(_UNSTORABLE.sub("?", field), message)
    return None


def _path_and_query(scope: Scope) -> Iterator[tuple[str, str]]:
    yield "path", scope["path"]
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        yield name, name
        yield name, value


async def _body_texts(scope: Scope, receive: Receive, body: bytes) -> Iterator[tuple[str, str]]:
    """Each field name and text value of a form or JSON body, with its dotted place; nothing when unreadable."""
    if not body:
        return iter(())
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").lower()
    if content_type.startswith(FORM_TYPES):
        try:
            form = await Request(scope, receive).form()
        except Exception:  # the route answers an unreadable form itself
            return iter(())
        return _form_texts(form)
    try:
        return _json_texts(json.loads(body))
    except (ValueError, RecursionError):  # not JSON, not UTF-8 or nested too deep: the route answers that itself
        return iter(())


def _form_texts(form: FormData) -> Iterator[tuple[str, str]]:
    for name, value in form.multi_items():
        yield name, name
        if isinstance(value, str):
            yield name, value


def _json_texts(document: Any) -> Iterator[tuple[str, str]]:
    """Every key and string, with its place as a dotted path like `steps.0.mode` (without recursion: the body
    may be nested as deep as the parser allows)."""
    pending: deque[tuple[str, Any]] = deque([("", document)])
    while pending:
        place, value = pending.popleft()
        if isinstance(value, str):
            yield place or "body", value
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{place}.{key}" if place else key
                yield inner, key
                pending.append((inner, item))
        elif isinstance(value, list):
            pending.extend((f"{place}.{index}" if place else str(index), item) for index, item in enumerate(value))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
