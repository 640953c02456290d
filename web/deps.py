"""Page dependencies: who is signed in (through the API's own token check), what their role opens, CSRF."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from api.actor import Actor
from api.deps import SessionDep, authenticate, origin_of
from api.errors import NotAuthenticated
from api.permissions import Permission, allows, denied_message
from web.errors import PageForbidden, SignInRequired
from web.nav import Page
from web.session import CSRF_FIELD, CSRF_HEADER, HOME, csrf_matches, page_behind, session_token


def page_actor(request: Request, session: SessionDep) -> Actor:
    """The signed-in staff member; the cookie's token is judged exactly as the API judges a bearer token."""
    back_to = page_behind(request) if request.method == "GET" else HOME
    token = session_token(request)
    if token is None:
        raise SignInRequired(back_to, ended=False)
    try:
        return authenticate(session, signing_key=request.app.state.signing_key, origin=origin_of(request), token=token)
    except NotAuthenticated:
        raise SignInRequired(back_to, ended=True) from None


PageActor = Annotated[Actor, Depends(page_actor)]


def page_requires(permission: Permission) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency that opens the page only for roles holding `permission` (403 in words otherwise); `async` for
    want of anything to wait on: a plain `def` would cost each page a hop to the thread pool and back."""

    async def check(actor: PageActor) -> Actor:
        if not allows(actor.user.role, permission):
            raise PageForbidden(actor, denied_message(permission))
        return actor

    return check


def page_for(page: Page) -> Callable[[Actor], Awaitable[Actor]]:
    """The menu's own permission for this page: what hides its link also refuses its address."""
    return page_requires(page.permission)


async def checked_form(request: Request, actor: PageActor) -> FormData:
    """The form posted by a signed-in browser, once its CSRF token is found to match its session."""
    form = await request.form()
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_matches(
        given if isinstance(given, str) else None, session_token(request), key=request.app.state.signing_key
    ):
        raise PageForbidden(
            actor,
            "This form did not come from a page of this session (or the page is too old), so "
            "nothing was changed. Go back, reload the page and try again.",
            title="Nothing was changed",
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
