"""Clients: search as you type, a client's page (details, what limits treatment now,
screenings, approvals, series, past sessions)."""

from fastapi import APIRouter

from web.errors import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
