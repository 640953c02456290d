"""The screening questionnaire of a client (`/clients/{id}/screening`), grouped as an esthetician asks it;
the result at once."""

from fastapi import APIRouter

from web.errors import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
