"""The live room: a device's state changes and current samples as Server-Sent Events."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from api.deps import ResourcesReader, SessionDep
from api.services import rooms
from db.models import Device, SessionMessage

router = APIRouter(tags=["rooms and devices"])
POLL_S = 0.25  # the gateway writes what devices report; this reads it well within a second
KEEPALIVE_S = 15.0


class LiveStream(StreamingResponse):
    """A stream that never ends by itself. When the server stops, it cancels what is still open after its
    graceful wait (galvani.cli); the stream then just ends, so a stop with a live view open in some browser
    logs no traceback. The browser's EventSource connects again to the next server."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


@router.get(
    "/devices/{device_id}/live",
    response_class=StreamingResponse,
    responses={
        200: {"description": "A stream of events", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    },
)
def live(device_id: uuid.UUID, request: Request, session: SessionDep, _actor: ResourcesReader) -> StreamingResponse:
    """Server-Sent Events: `state` when the device's state changes, `telemetry` and `event` as they arrive."""
    device = rooms.get_device(session, device_id=device_id)
    factory = request.app.state.session_factory
    return LiveStream(
        _stream(request, factory, device.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(request: Request, factory: sessionmaker[Session], device_id: uuid.UUID) -> AsyncIterator[str]:
    last_id = await run_in_threadpool(_newest_message_id, factory, device_id)
    last_state: str | None = None
    quiet_s = 0.0
    while not await request.is_disconnected():
        state, messages = await run_in_threadpool(_since, factory, device_id, last_id)
        if state != last_state:
            last_state = state
            yield _sse("state", {"state": state})
        for message in messages:
            last_id = message["id"]
            yield _sse(message.pop("kind"), message)
        quiet_s = 0.0 if messages else quiet_s + POLL_S
        if quiet_s >= KEEPALIVE_S:
            quiet_s = 0.0
            yield ": keep-alive\n\n"  # proxies close idle connections
        await asyncio.sleep(POLL_S)


def _newest_message_id(factory: sessionmaker[Session], device_id: uuid.UUID) -> int:
    with factory() as session:
        return int(
            session.scalar(select(func.max(SessionMessage.id)).where(SessionMessage.device_id == device_id)) or 0
        )


def _since(factory: sessionmaker[Session], device_id: uuid.UUID, last_id: int) -> tuple[str, list[dict[str, Any]]]:
    with factory() as session:
        state = session.scalar(select(Device.state).where(Device.id == device_id)) or "unknown"
        rows = session.scalars(
            select(SessionMessage)
            .where(SessionMessage.device_id == device_id, SessionMessage.id > last_id)
            .order_by(SessionMessage.id)
            .limit(500)
        ).all()
        return state, [_message(row) for row in rows]


def _message(row: SessionMessage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "session_id": str(row.session_id),
        "seq": row.seq,
        "step": row.step,
        "t_ms": row.t_ms,
    }
    if row.kind == "telemetry":
        body |= {"interval_ms": row.interval_ms, "current_ua": row.samples, "contact": row.contact}
    else:
        body |= {"type": row.event_type, "detail": row.detail}
    return body


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
