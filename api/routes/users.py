"""Staff accounts."""

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from api.deps import CurrentActor, SessionDep, UsersManager, UsersReader
from api.openapi import CONFLICT
from api.permissions import Permission, allows
from api.schemas.users import LoginLockRead, UserAdminRead, UserCreate, UserRead, UserUpdate
from api.services import login_throttle, users
from db.base import utcnow
from db.models import User

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_user(data: UserCreate, session: SessionDep, actor: UsersManager) -> UserRead:
    """Create a staff account (admin only)."""
    return UserRead.model_validate(users.create(session, actor=actor, data=data))


@router.get("")
def list_users(session: SessionDep, _actor: UsersReader) -> list[UserRead]:
    """All staff accounts, by name."""
    return _read(session, users.list_all(session))


@router.get("/me")
def read_me(session: SessionDep, actor: CurrentActor) -> UserRead:
    """The signed-in account."""
    return _read(session, [actor.user])[0]


@router.get("/{user_id}")
def read_user(user_id: uuid.UUID, session: SessionDep, actor: UsersReader) -> UserAdminRead | UserRead:
    """One staff account; an admin also sees the addresses where it is locked after failed log-ins."""
    user = users.get(session, user_id=user_id)
    if allows(actor.user.role, Permission.USERS_MANAGE):
        return _admin_read(session, user)
    return _read(session, [user])[0]


@router.patch("/{user_id}", responses=CONFLICT)
def update_user(user_id: uuid.UUID, data: UserUpdate, session: SessionDep, actor: UsersManager) -> UserAdminRead:
    """Change name, role, password or active flag, or lift the account's log-in locks (admin only).

    A new password or a deactivation ends every log-in of the account made before it."""
    return _admin_read(session, users.update(session, actor=actor, user_id=user_id, data=data))


def _read(session: Session, found: Sequence[User]) -> list[UserRead]:
    locks = login_throttle.locks_of(session, emails=[u.email for u in found], now=utcnow())
    return [_user_read(u, locks[u.email]) for u in found]


def _user_read(user: User, locks: list[login_throttle.Lock]) -> UserRead:
    latest = max((lock.locked_until for lock in locks), default=None)
    return UserRead.model_validate(user).model_copy(update={"locked_until": latest})


def _admin_read(session: Session, user: User) -> UserAdminRead:
    locks = login_throttle.locks_of(session, emails=[user.email], now=utcnow())[user.email]
    return UserAdminRead(
        **_user_read(user, locks).model_dump(),
        login_locks=[LoginLockRead(address=lock.address, locked_until=lock.locked_until) for lock in locks],
    )
