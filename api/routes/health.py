"""Reachability of the database and the broker, for load balancers and people."""

import socket
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from db.models.gateway import gateway_present

router = APIRouter(tags=["health"])
BROKER_TIMEOUT_S = 1.0


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """`ok` when the database answers (and the broker, when one is configured); 503 otherwise. `gateway` says
    whether a device gateway is running and connected; the API serves without one (booking, records), so it
    does not make the answer a 503, but no session can start."""
    database, gateway = _database_status(request)
    broker = _broker_status(request.app.state.settings.mqtt_url)
    healthy = database == "ok" and broker in {"ok", "embedded"}
    body = {"status": "ok" if healthy else "unavailable", "database": database, "broker": broker, "gateway": gateway}
    return JSONResponse(body, status_code=200 if healthy else 503)


def _database_status(request: Request) -> tuple[str, str]:
    """The database's state, and the gateway's as the database knows it."""
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
            return "ok", "ok" if gateway_present(session) else "not running"
    except SQLAlchemyError:
        return "unreachable", "unknown"


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
