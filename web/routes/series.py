"""Booking a series (`/series/new`): every occurrence shown with its conflicts and alternatives
before Book series books them."""

from fastapi import APIRouter

from web.errors import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
