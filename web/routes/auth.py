"""Signing in and out, and the start page that leads to one or the other."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.actor import Actor
from api.deps import OriginDep, SessionDep, SettingsDep, authenticate
from api.errors import NotAuthenticated
from api.security import create_access_token
from api.services import audit, auth, users
from db.base import utcnow
from web.deps import CheckedForm, PageActor
from web.errors import PageRoute
from web.first_start import after_sign_in
from web.session import (
    CSRF_FIELD,
    HOME,
    NONCE_COOKIE,
    clear_session_cookie,
    csrf_matches,
    csrf_token,
    form_nonce,
    local_path,
    session_token,
    set_nonce_cookie,
    set_session_cookie,
)
from web.templating import SECURITY_HEADERS, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
SESSION_ENDED = "Your session has ended. Sign in again to go on where you were."
SIGNED_OUT = "You have signed out."
FORM_EXPIRED = "The sign-in form had expired, so nothing was checked. Please sign in again."


@router.get("/")
def start(request: Request, session: SessionDep, origin: OriginDep) -> Response:
    """Today's rooms once signed in, the sign-in page otherwise."""
    return _redirect(HOME if _signed_in(request, session, origin) else "/login")


@router.get("/login")
def sign_in_page(
    request: Request,
    session: SessionDep,
    origin: OriginDep,
    next: str | None = None,
    ended: str | None = None,
    signed_out: str | None = None,
) -> Response:
    """The sign-in form; someone already signed in goes straight on."""
    if _signed_in(request, session, origin):
        return _redirect(local_path(next))
    notice = SIGNED_OUT if signed_out else SESSION_ENDED if ended else None
    return _sign_in_form(
        request, next_path=local_path(next), notice=notice, notice_tone="caution" if notice == SESSION_ENDED else "ok"
    )


@router.post("/login")
async def sign_in(request: Request, session: SessionDep, settings: SettingsDep, origin: OriginDep) -> Response:
    """Check the credentials with the API's log-in service (same throttling, same words), then open a session."""
    form = await request.form()
    email, password, next_path = (str(form.get(name) or "") for name in ("email", "password", "next"))
    nonce = request.cookies.get(NONCE_COOKIE)
    given = form.get(CSRF_FIELD)
    if not csrf_matches(given if isinstance(given, str) else None, nonce, key=request.app.state.signing_key):
        return _sign_in_form(request, next_path=local_path(next_path), email=email, error=FORM_EXPIRED, status_code=403)
    now = utcnow()
    result = auth.log_in(session, email=email, password=password, origin=origin, now=now)
    if result.user is None:  # the request's unit of work commits the failure's count and audit entry
        held = result.retry_after_s is not None
        return _sign_in_form(
            request,
            next_path=local_path(next_path),
            email=email,
            error=result.refusal or auth.WRONG_CREDENTIALS,
            status_code=429 if held else 401,
            headers={"Retry-After": str(result.retry_after_s)} if held else None,
        )
    token = create_access_token(
        user_id=result.user.id,
        generation=result.user.token_generation,
        key=request.app.state.signing_key,
        now=now,
        minutes=settings.access_token_minutes,
    )
    response = _redirect(after_sign_in(session, result.user, local_path(next_path)))
    set_session_cookie(response, token, settings=settings)
    return response


@router.get("/logout")
def sign_out_page(request: Request, actor: PageActor) -> Response:
    """Asks to confirm: signing out changes something, so it is a form with a CSRF token, never a link."""
    return render(request, "logout.html", actor=actor, title="Sign out")


@router.post("/logout")
def sign_out(session: SessionDep, settings: SettingsDep, actor: PageActor, _form: CheckedForm) -> Response:
    """End the session: every token issued to the account so far stops working, this cookie's included."""
    users.end_every_log_in(actor.user)
    audit.record(session, actor=actor, action="auth.logout", record_type="user", record_id=actor.user.id)
    response = _redirect("/login?signed_out=1")
    clear_session_cookie(response, settings=settings)
    return response


def _signed_in(request: Request, session: SessionDep, origin: OriginDep) -> Actor | None:
    token = session_token(request)
    if token is None:
        return None
    try:
        return authenticate(session, signing_key=request.app.state.signing_key, origin=origin, token=token)
    except NotAuthenticated:
        return None


def _sign_in_form(
    request: Request,
    *,
    next_path: str,
    notice: str | None = None,
    notice_tone: str = "ok",
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    nonce, new = form_nonce(request)
    response = render(
        request,
        "login.html",
        title="Sign in",
        next_path=next_path,
        notice=notice,
        notice_tone=notice_tone,
        email=email,
        error=error,
        status_code=status_code,
        headers=headers,
        form_token=csrf_token(nonce, key=request.app.state.signing_key),
    )
    if new:
        set_nonce_cookie(response, nonce, settings=request.app.state.settings)
    return response


def _redirect(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)
