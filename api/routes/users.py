"""Staff accounts."""

import uuid

from fastapi import APIRouter, status

from api.deps import CurrentActor, SessionDep, UsersManager, UsersReader
from api.schemas.users import UserCreate, UserRead, UserUpdate
from api.services import users

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, session: SessionDep, actor: UsersManager) -> UserRead:
    """Create a staff account (admin only)."""
    return UserRead.model_validate(users.create(session, actor=actor, data=data))


@router.get("")
def list_users(session: SessionDep, _actor: UsersReader) -> list[UserRead]:
    """All staff accounts, by name."""
    return [UserRead.model_validate(u) for u in users.list_all(session)]


@router.get("/me")
def read_me(actor: CurrentActor) -> UserRead:
    """The signed-in account."""
    return UserRead.model_validate(actor.user)


@router.get("/{user_id}")
def read_user(user_id: uuid.UUID, session: SessionDep, _actor: UsersReader) -> UserRead:
    """One staff account."""
    return UserRead.model_validate(users.get(session, user_id=user_id))


@router.patch("/{user_id}")
def update_user(user_id: uuid.UUID, data: UserUpdate, session: SessionDep, actor: UsersManager) -> UserRead:
    """Change name, role, password or active flag, or unlock a locked account (admin only)."""
    return UserRead.model_validate(users.update(session, actor=actor, user_id=user_id, data=data))
