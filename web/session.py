"""A signed-in browser: its session cookie, its CSRF tokens, and where it may be sent back to.

The session cookie carries the same signed access token the API issues (api/security.py), with the account's
token generation in it. So the API's own check (api/deps.get_actor) decides whether a page session is still
valid: expired, deactivated or outdated by a password change, it ends exactly as a bearer token does. There is
no session table to keep in step between API workers. Signing out raises the account's token generation, so the
cookie of a session that was signed out opens nothing any more, even if someone kept a copy of it.

CSRF: every form that changes something carries a token that is an HMAC, under the signing key, of what the
browser's cookies hold: the session token once signed in, or a random pre-session nonce on the sign-in form.
Another site can neither read those cookies nor compute the HMAC, and a token stops matching when its session
ends (OWASP's "signed double-submit cookie", bound to the session).
"""

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request, Response

from db.settings import Settings

SESSION_COOKIE = "galvani_session"
NONCE_COOKIE = "galvani_form"  # the pre-session nonce the sign-in form's CSRF token is bound to
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"  # the same token, for requests htmx makes
HOME = "/today"


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def set_session_cookie(response: Response, token: str, *, settings: Settings) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no other site's form or fetch sends it), Secure in production;
    it lasts as long as the token it carries."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(timedelta(minutes=settings.access_token_minutes).total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
    )


def clear_session_cookie(response: Response, *, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.env == "production")


def form_nonce(request: Request) -> tuple[str, bool]:
    """The browser's pre-session nonce, and whether it is new (then it must be set on the response)."""
    nonce = request.cookies.get(NONCE_COOKIE)
    if nonce and len(nonce) == 43:
        return nonce, False
    return secrets.token_urlsafe(32), True


def set_nonce_cookie(response: Response, nonce: str, *, settings: Settings) -> None:
    response.set_cookie(
        NONCE_COOKIE, nonce, path="/", httponly=True, samesite="strict", secure=settings.env == "production"
    )


def csrf_token(binding: str, *, key: str) -> str:
    """The CSRF token of forms in a browser whose cookies hold `binding`."""
    return hmac.new(key.encode(), f"galvani-csrf|{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(given: str | None, binding: str | None, *, key: str) -> bool:
    if not given or not binding:
        return False
    return hmac.compare_digest(given.encode(), csrf_token(binding, key=key).encode())


def local_path(candidate: str | None, default: str = HOME) -> str:
    """`candidate` if it is a path on this site (what `next` may send a browser to after signing in), else
    `default`: no scheme, no host, no `//host` or `/\\host` that a browser would take for another site."""
    if not candidate or not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x20 or ch == "\\" for ch in candidate):
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return default
    return candidate


def path_of(request: Request) -> str:
    """The page asked for, with its query, as a `next` to come back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def page_behind(request: Request) -> str:
    """The page a browser is on: for an htmx request (a fragment), the page that asked for it."""
    current = request.headers.get("HX-Current-URL")
    if current:
        parts = urlsplit(current)
        if parts.netloc == request.url.netloc:
            return local_path(parts.path + (f"?{parts.query}" if parts.query else ""))
        return HOME
    return path_of(request)
