"""The treatment room (`/appointments/{id}/room`, on the room's tablet): the day-of questions, Start session, the live
current chart and Stop."""

from fastapi import APIRouter

from web.errors import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
