"""Dependencies named once, so every route signature reads like a sentence."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, cast
from zoneinfo import ZoneInfo

import anyio
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from api.actor import Actor, Origin
from api.errors import Forbidden, NotAuthenticated
from api.permissions import Permission, allows, denied_message
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.screening_rules import RuleParameters
from api.security import read_access_token
from api.services import clinic_settings, rule_sets
from db.models import User
from db.settings import Settings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: services flush, this commits once, before the response goes out.

    The session is made here on the event loop (it touches the database only at its first statement) and finished
    in a worker thread, since committing waits on the database: one hop to the thread pool instead of two."""
    session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        await _in_thread_even_if_cancelled(_roll_back, session)
        raise
    await _in_thread_even_if_cancelled(_commit, session)


def _commit(session: Session) -> None:
    with session:  # closed afterwards; a commit that fails is rolled back by the close
        session.commit()


def _roll_back(session: Session) -> None:
    with session:
        session.rollback()


async def _in_thread_even_if_cancelled(finish: Callable[[Session], None], session: Session) -> None:
    """A client that hangs up cancels its request: the session is still finished and its connection given back."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(finish, session)


# Dependencies that neither wait nor block are `async def`: FastAPI runs them on the event loop, where each `def`
# one would cost a hop to the thread pool and back on every request.


async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)  # app.state holds anything: create_app put Settings there


async def get_signing_key(request: Request) -> str:
    return cast(str, request.app.state.signing_key)


SessionDep = Annotated[Session, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def origin_of(request: Request) -> Origin:
    ip = request.client.host if request.client else None
    return Origin(ip_address=ip, user_agent=(request.headers.get("user-agent") or "")[:300] or None)


async def get_origin(request: Request) -> Origin:
    return origin_of(request)


OriginDep = Annotated[Origin, Depends(get_origin)]


def get_actor(request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Actor:
    """The staff member the bearer token names (the key and the origin are read here, not as dependencies of
    their own: each dependency costs every request its share of FastAPI's solving)."""
    return authenticate(session, signing_key=request.app.state.signing_key, origin=origin_of(request), token=token)


# Built once: every request runs it, and a statement made anew (as Session.get does) has its cache key worked out
# anew each time.
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


def authenticate(session: Session, *, signing_key: str, origin: Origin, token: str | None) -> Actor:
    """The staff member a token names, if the token is valid and the account may still use it."""
    if not token:
        raise NotAuthenticated("Log in first: this needs a bearer token.")
    claims = read_access_token(token, key=signing_key)
    user = session.scalars(_USER_BY_ID, {"user_id": claims.user_id}).one_or_none() if claims else None
    if claims is None or user is None:
        raise NotAuthenticated("Your log-in has expired or is not valid; log in again.")
    if not user.is_active:
        raise NotAuthenticated("This account has been deactivated; ask an admin.")
    if claims.generation != user.token_generation:
        raise NotAuthenticated(
            "This log-in has ended: the account's password was changed or the account was "
            "deactivated since. Log in again."
        )
    return Actor(user=user, origin=origin)


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require(permission: Permission) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency that lets the request through only for roles holding `permission`."""

    async def check(actor: CurrentActor) -> Actor:
        if not allows(actor.user.role, permission):
            raise Forbidden(denied_message(permission))
        return actor

    check.permission = permission  # type: ignore[attr-defined]  # so the OpenAPI document lists its 403
    return check


UsersReader = Annotated[Actor, Depends(require(Permission.USERS_READ))]
UsersManager = Annotated[Actor, Depends(require(Permission.USERS_MANAGE))]
ClientsReader = Annotated[Actor, Depends(require(Permission.CLIENTS_READ))]
ClientsWriter = Annotated[Actor, Depends(require(Permission.CLIENTS_WRITE))]
ClientsDeleter = Annotated[Actor, Depends(require(Permission.CLIENTS_DELETE))]
AuditReader = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]
SettingsReader = Annotated[Actor, Depends(require(Permission.SETTINGS_READ))]
SettingsWriter = Annotated[Actor, Depends(require(Permission.SETTINGS_WRITE))]
Screener = Annotated[Actor, Depends(require(Permission.SCREENINGS_WRITE))]
ScreeningsReader = Annotated[Actor, Depends(require(Permission.SCREENING_OUTCOMES_READ))]
EligibilityChecker = Annotated[Actor, Depends(require(Permission.ELIGIBILITY_CHECK))]
ApprovalsReader = Annotated[Actor, Depends(require(Permission.APPROVALS_READ))]
ApprovalRecorder = Annotated[Actor, Depends(require(Permission.APPROVALS_RECORD))]
ApprovalRevoker = Annotated[Actor, Depends(require(Permission.APPROVALS_REVOKE))]
RulesReader = Annotated[Actor, Depends(require(Permission.RULES_READ))]
RulesWriter = Annotated[Actor, Depends(require(Permission.RULES_WRITE))]


ProtocolsReader = Annotated[Actor, Depends(require(Permission.PROTOCOLS_READ))]
ProtocolDrafter = Annotated[Actor, Depends(require(Permission.PROTOCOLS_DRAFT))]
ProtocolApprover = Annotated[Actor, Depends(require(Permission.PROTOCOLS_APPROVE))]
ResourcesReader = Annotated[Actor, Depends(require(Permission.RESOURCES_READ))]
ResourcesManager = Annotated[Actor, Depends(require(Permission.RESOURCES_MANAGE))]
BookingsReader = Annotated[Actor, Depends(require(Permission.BOOKINGS_READ))]
BookingsWriter = Annotated[Actor, Depends(require(Permission.BOOKINGS_WRITE))]
SessionsReader = Annotated[Actor, Depends(require(Permission.SESSIONS_READ))]
SessionRunner = Annotated[Actor, Depends(require(Permission.SESSIONS_RUN))]
AlarmAcknowledger = Annotated[Actor, Depends(require(Permission.ALARMS_ACKNOWLEDGE))]


def get_clinic(session: SessionDep, settings: SettingsDep) -> ClinicSettings:
    """The clinic's settings in force."""
    return clinic_settings.stored(session, default_timezone=settings.clinic_timezone).settings


def get_rules(session: SessionDep) -> RuleParameters:
    """The screening rules in force (they hold the zone caps)."""
    return rule_sets.parameters(rule_sets.current(session))


ClinicDep = Annotated[ClinicSettings, Depends(get_clinic)]
RulesDep = Annotated[RuleParameters, Depends(get_rules)]


async def get_clinic_today(clinic: ClinicDep) -> date:
    """Today's date where the clinic is, from the settings the request read once (ClinicDep)."""
    return datetime.now(ZoneInfo(clinic.timezone)).date()


ClinicToday = Annotated[date, Depends(get_clinic_today)]


def sees_health_data(actor: Actor) -> bool:
    return allows(actor.user.role, Permission.SCREENING_ANSWERS_READ)
