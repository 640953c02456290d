"""Rendering pages: one Jinja2 environment, and what every page's layout needs (who, the menu, the CSRF token)."""

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.actor import Actor
from web.nav import menu_for
from web.session import CSRF_FIELD, CSRF_HEADER, csrf_token, session_token

HTMX_VERSION = "4.0.1"  # web/static/vendor/README.md says where it comes from
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# What a page may load: only this server's own scripts and styles (no inline script or style, no eval, no other site).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages hold clients' names: no copy stays in a shared computer's cache
}
ROLE_NAMES = {
    "admin": "Admin",
    "medical_director": "Medical director",
    "esthetician": "Esthetician",
    "front_desk": "Front desk",
}


def render(
    request: Request,
    template: str,
    *,
    actor: Actor | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    form_token: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page or fragment, with the signed-in staff member's menu and the CSRF token of the session's forms
    (`form_token`: the token of a form shown before there is a session, the sign-in form's)."""
    token = session_token(request)
    base: dict[str, Any] = {
        "actor": actor,
        "menu": menu_for(actor.user.role) if actor else [],
        "role_names": ROLE_NAMES,
        "csrf_field": CSRF_FIELD,
        "csrf_header": CSRF_HEADER,
        "htmx_version": HTMX_VERSION,
        "csrf_token": csrf_token(token, key=request.app.state.signing_key) if actor and token else form_token,
        "current_path": request.url.path,
    }
    response = TEMPLATES.TemplateResponse(request, template, base | context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS | (headers or {}))
    return response


def long_date(day: date) -> str:
    """Tuesday 3 March 2026: how staff say a day."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def short_date(day: date) -> str:
    """3 Mar 2026."""
    return f"{day.day} {day:%b %Y}"


def clock(moment: datetime) -> str:
    return f"{moment:%H:%M}"


TEMPLATES.env.filters["long_date"] = long_date
TEMPLATES.env.filters["short_date"] = short_date
TEMPLATES.env.filters["clock"] = clock
