"""The live room: a device's state changes, its latest session's status, and current samples as Server-Sent Events.

Every event of a stored message (telemetry or a session event) carries the message's id as its SSE `id`, so a
browser's EventSource that reconnects after a drop sends it back as `Last-Event-ID` and the stream goes on from
there: nothing is lost and nothing is sent twice. `state` and `session` are sent afresh on every connection, so
they catch up too."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from api.actor import Actor
from api.deps import OriginDep, SessionDep, authenticate, oauth2_scheme
from api.errors import Forbidden
from api.openapi import NOT_LOGGED_IN
from api.permissions import Permission, allows, denied_message
from api.services import rooms
from db.models import Device, SessionMessage, TreatmentSession
from db.models.gateway import gateway_present
from web.session import session_token

router = APIRouter(tags=["rooms and devices"])
POLL_S = 0.25  # the gateway writes what devices report; this reads it well within a second
KEEPALIVE_S = 15.0
BATCH = 500  # messages read at a time; a stream that is catching up reads the next batch at once
RECONNECT_MS = 1000  # how soon a browser tries again after a drop (the SSE `retry` field)
MAX_EVENT_ID = 2**63 - 1  # a message id is a BIGINT


class LiveStream(StreamingResponse):
    """A stream that never ends by itself. When the server stops, it cancels what is still open after its
    graceful wait (galvani.cli); the stream then just ends, so a stop with a live view open in some browser
    logs no traceback. The browser's EventSource connects again to the next server."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def watcher(
    request: Request, session: SessionDep, origin: OriginDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Actor:
    """Who watches: a bearer token, or else a signed-in page's session cookie (a browser's EventSource cannot send
    a header). The cookie holds the same token and is judged alike; it opens only this read-only stream."""
    actor = authenticate(
        session, signing_key=request.app.state.signing_key, origin=origin, token=token or session_token(request)
    )
    if not allows(actor.user.role, Permission.RESOURCES_READ):
        raise Forbidden(denied_message(Permission.RESOURCES_READ))
    return actor


watcher.permission = Permission.RESOURCES_READ  # type: ignore[attr-defined]  # so the OpenAPI document lists its 403


@router.get(
    "/devices/{device_id}/live",
    response_class=StreamingResponse,
    responses={
        200: {"description": "A stream of events", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        401: NOT_LOGGED_IN,
    },
)
def live(
    device_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    _actor: Annotated[Actor, Depends(watcher)],
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_EVENT_ID, description="Send the stored messages after this event id first"),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(description="Sent by a reconnecting EventSource: go on after it (wins over `after`)")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: `state` when the device's state changes (`live`: whether a gateway is connected to keep
    it current), `session` when its latest session's status does, `telemetry` and `event` as they arrive (each
    with its `id`). Without `after` or `Last-Event-ID`, only what arrives from now on."""
    device = rooms.get_device(session, device_id=device_id)
    start = _event_id(last_event_id)
    if start is None:
        start = after if after is not None else newest_message_id(session, device_id=device.id)
    return LiveStream(
        _stream(request, request.app.state.session_factory, device.id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def newest_message_id(session: Session, *, device_id: uuid.UUID) -> int:
    """The id of the device's newest stored message (0: none): to watch it from now on."""
    newest = session.scalar(select(func.max(SessionMessage.id)).where(SessionMessage.device_id == device_id))
    return int(newest or 0)


def session_start_id(session: Session, *, device_id: uuid.UUID, session_id: uuid.UUID) -> int:
    """The event id just before the session's first stored message, or the device's newest when it has none yet:
    a page opened mid-session gets the whole session from there."""
    first = session.scalar(select(func.min(SessionMessage.id)).where(SessionMessage.session_id == session_id))
    return int(first) - 1 if first is not None else newest_message_id(session, device_id=device_id)


async def _stream(
    request: Request, factory: sessionmaker[Session], device_id: uuid.UUID, last_id: int
) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    last_state: dict[str, Any] | None = None
    last_session: dict[str, Any] | None = None
    quiet_s = 0.0
    while not await request.is_disconnected():
        state, latest, messages = await run_in_threadpool(_since, factory, device_id, last_id)
        if state != last_state:
            last_state = state
            yield _sse("state", state)
        if latest != last_session:
            last_session = latest
            yield _sse("session", latest)
        for message in messages:
            last_id = message["id"]
            yield _sse(message.pop("kind"), message, event_id=last_id)
        if len(messages) == BATCH:
            continue  # catching up: the next batch at once
        quiet_s = 0.0 if messages else quiet_s + POLL_S
        if quiet_s >= KEEPALIVE_S:
            quiet_s = 0.0
            yield ": keep-alive\n\n"  # proxies close idle connections
        await asyncio.sleep(POLL_S)


def _since(
    factory: sessionmaker[Session], device_id: uuid.UUID, last_id: int
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The device's state (and whether a gateway is there to keep it current), its latest session's id and
    status, and its messages stored after `last_id`."""
    with factory() as session:
        state = {
            "state": session.scalar(select(Device.state).where(Device.id == device_id)) or "unknown",
            "live": gateway_present(session),
        }
        latest = session.execute(
            select(TreatmentSession.id, TreatmentSession.status)
            .where(TreatmentSession.device_id == device_id)
            .order_by(TreatmentSession.created_at.desc())
            .limit(1)
        ).first()
        rows = session.scalars(
            select(SessionMessage)
            .where(SessionMessage.device_id == device_id, SessionMessage.id > last_id)
            .order_by(SessionMessage.id)
            .limit(BATCH)
        ).all()
        about = {"session_id": str(latest.id), "status": latest.status.value} if latest else {"session_id": None}
        return state, about, [_message(row) for row in rows]


def _message(row: SessionMessage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "session_id": str(row.session_id),
        "seq": row.seq,
        "step": row.step,
        "t_ms": row.t_ms,
        "received_at": row.received_at.isoformat(),
    }
    if row.kind == "telemetry":
        body |= {"interval_ms": row.interval_ms, "current_ua": row.samples, "contact": row.contact}
    else:
        body |= {"type": row.event_type, "detail": row.detail}
    return body


def _event_id(header: str | None) -> int | None:
    """A Last-Event-ID this stream sent (a message id); anything else is ignored, as if it were not there."""
    if header is None or not header.isascii() or not header.isdigit() or len(header) > len(str(MAX_EVENT_ID)):
        return None
    value = int(header)
    return value if value <= MAX_EVENT_ID else None


def _sse(event: str, data: dict[str, Any], *, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
