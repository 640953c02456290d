"""Session records (`/sessions/{id}`): prescribed against delivered per step, incidents, the medical director's
sign-off and addenda, and a print view."""

from fastapi import APIRouter

from web.errors import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
