"""Log in with the OAuth2 password flow."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import OriginDep, SessionDep, SettingsDep, get_signing_key
from api.errors import NotAuthenticated, TooManyRequests
from api.schemas.users import Token
from api.security import create_access_token
from api.services import auth
from db.base import utcnow

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token")
def log_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    signing_key: Annotated[str, Depends(get_signing_key)],
) -> Token:
    """Exchange an email (as `username`) and password for a bearer token.

    Too many failures from one address answer 429 with Retry-After: five in a row with one email lock that
    email at that address, twenty with any emails hold back the address, each for 15 minutes."""
    now = utcnow()
    result = auth.log_in(session, email=form.username, password=form.password, origin=origin, now=now)
    if result.user is None:
        session.commit()  # the failure count and its audit entry must outlive the refusal
        if result.retry_after_s is not None:
            raise TooManyRequests(result.refusal or auth.WRONG_CREDENTIALS, retry_after_s=result.retry_after_s)
        raise NotAuthenticated(result.refusal or auth.WRONG_CREDENTIALS)
    token = create_access_token(
        user_id=result.user.id,
        generation=result.user.token_generation,
        key=signing_key,
        now=now,
        minutes=settings.access_token_minutes,
    )
    return Token(access_token=token, expires_at=now + timedelta(minutes=settings.access_token_minutes))
