"""Reachability of the database and the broker, for load balancers and people."""

import socket
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from db.models.gateway import GatewayPresence, gateways_heard

router = APIRouter(tags=["health"])
BROKER_TIMEOUT_S = 1.0


@router.get(
    "/health",
    responses={
        200: {"description": "`ok` or `degraded`", "content": {"application/json": {"schema": {"type": "object"}}}},
        503: {
            "description": "`down`: the database or the broker does not answer",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
def health(request: Request) -> JSONResponse:
    """`down` (503) when the database or the broker does not answer; `degraded` when no gateway carries the
    device traffic as it should (the API still books and shows records, but no session can start, and an
    over-current depends on the devices' own limits); `ok` otherwise. `gateways` says which part of each
    gateway does not work, and since when."""
    database, gateways = _database_status(request)
    broker = _broker_status(request.app.state.settings.mqtt_url)
    gateway = _gateway_status(gateways) if database == "ok" else "unknown"
    status = "down" if database != "ok" or broker not in {"ok", "embedded"} else "ok" if gateway == "ok" else "degraded"
    body = {
        "status": status,
        "database": database,
        "broker": broker,
        "gateway": gateway,
        "gateways": [
            {
                "id": g.client_id,
                "role": g.role,
                "connected": g.connected,
                "problems": g.problems,
                "seen_at": g.seen_at.isoformat(),
            }
            for g in gateways
        ],
    }
    return JSONResponse(body, status_code=503 if status == "down" else 200)


def _database_status(request: Request) -> tuple[str, list[GatewayPresence]]:
    """The database's state, and the gateways it heard from lately."""
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
            return "ok", gateways_heard(session)
    except SQLAlchemyError:
        return "unreachable", []


def _gateway_status(gateways: list[GatewayPresence]) -> str:
    """`ok`: an active gateway is connected and every part of it works; `down`: none said so lately."""
    active = [g for g in gateways if g.role == "active"]
    if not active:
        return "degraded" if gateways else "down"  # a standby takes over once the lease runs out
    return "ok" if any(g.connected and not g.problems for g in active) else "degraded"


def _broker_status(mqtt_url: str | None) -> str:
    if not mqtt_url:
        return "embedded"
    parts = urlsplit(mqtt_url)
    port = parts.port or (8883 if parts.scheme in {"mqtts", "ssl"} else 1883)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=BROKER_TIMEOUT_S):
            return "ok"
    except OSError:
        return "unreachable"
