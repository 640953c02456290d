"""What a page answers when it cannot be shown: the sign-in page, a 403 in words, or the service's own refusal.

Page routes use PageRoute, which turns these (and the services' AppError family) into pages, where the API's
handlers would answer JSON."""

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from api.actor import Actor
from api.errors import AppError
from web.session import clear_session_cookie
from web.templating import SECURITY_HEADERS, render


class SignInRequired(Exception):
    """No valid session: to the sign-in page, and back to `next` afterwards."""

    def __init__(self, next_path: str, *, ended: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.ended = ended  # there was a session, and it has ended (expired, signed out, password changed)


class PageForbidden(Exception):
    """The signed-in role may not do this: a 403 page that says why in the permission table's words."""

    def __init__(self, actor: Actor, message: str, *, title: str = "You cannot open this page") -> None:
        super().__init__(message)
        self.actor, self.message, self.title = actor, message, title


class PageRoute(APIRoute):
    """A page route: its errors become pages (or redirects), never the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return sign_in_first(request, exc)
            except PageForbidden as exc:
                return render(
                    request, "error.html", actor=exc.actor, status_code=403, title=exc.title, message=exc.message
                )
            except AppError as exc:
                return render(
                    request,
                    "error.html",
                    status_code=exc.status_code,
                    title="This could not be done",
                    message=exc.detail,
                )

        return page_handler


def sign_in_first(request: Request, exc: SignInRequired) -> Response:
    """A page: a redirect to the sign-in page. A fragment htmx asked for: 401, and htmx moves the whole page."""
    query = {"next": exc.next_path} | ({"ended": "1"} if exc.ended else {})
    target = f"/login?{urlencode(query)}"
    if request.headers.get("HX-Request"):
        response: Response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    if exc.ended:
        clear_session_cookie(response, settings=request.app.state.settings)
    return response
