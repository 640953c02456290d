"""Puts the staff pages into the app: their routes and the static files they load (no CDN)."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web.routes import (
    appointments,
    audit,
    auth,
    clients,
    clinic_settings,
    devices,
    protocols,
    records,
    room,
    screening,
    series,
    today,
)

STATIC = Path(__file__).parent / "static"


def install_pages(app: FastAPI) -> None:
    for module in (
        auth,
        today,
        appointments,
        room,
        records,
        clients,
        screening,
        series,
        protocols,
        devices,
        audit,
        clinic_settings,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
