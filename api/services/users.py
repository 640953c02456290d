"""Staff accounts: creation, changes, the first admin."""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict
from api.schemas.users import UserCreate, UserUpdate
from api.security import hash_password
from api.services import audit, login_throttle
from api.services.records import get_or_404
from db.models import Role, User


def get_by_email(session: Session, *, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def get(session: Session, *, user_id: uuid.UUID) -> User:
    return get_or_404(session, User, user_id, "staff account")


def list_all(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.full_name, User.id)).all()


def add(session: Session, *, email: str, password: str, full_name: str, role: Role) -> User:
    """Insert an account; the caller has checked who may."""
    if get_by_email(session, email=email) is not None:
        raise Conflict(f"A staff account with the email {email} already exists.")
    user = User(email=email.strip().lower(), password_hash=hash_password(password), full_name=full_name, role=role)
    session.add(user)
    session.flush()
    return user


def create(session: Session, *, actor: Actor, data: UserCreate) -> User:
    user = add(session, email=data.email, password=data.password, full_name=data.full_name, role=data.role)
    audit.record(
        session,
        actor=actor,
        action="user.create",
        record_type="user",
        record_id=user.id,
        detail={"role": user.role.value},
    )
    return user


def update(session: Session, *, actor: Actor, user_id: uuid.UUID, data: UserUpdate) -> User:
    user = get(session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if (
        user.role == Role.ADMIN
        and user.is_active
        and (changes.get("is_active") is False or changes.get("role", Role.ADMIN) != Role.ADMIN)
    ):
        _keep_one_admin(session, leaving=user)
    if "password" in changes:
        user.password_hash = hash_password(changes.pop("password"))
        changes["password"] = True
        end_every_log_in(user)
    if changes.get("is_active") is False and user.is_active:
        end_every_log_in(user)
    if changes.pop("unlock", False):
        login_throttle.unlock(session, email=user.email)
        changes["unlock"] = True
    for field in ("full_name", "role", "is_active"):
        if field in changes:
            setattr(user, field, changes[field])
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.update",
        record_type="user",
        record_id=user.id,
        detail={"fields": sorted(changes)},
    )
    return user


def end_every_log_in(user: User) -> None:
    """Make every token issued so far stop working (a password change or reset, a deactivation)."""
    user.token_generation += 1


def _keep_one_admin(session: Session, *, leaving: User) -> None:
    """Refuse to let the last active admin go. The active admins' rows are locked first (SQLite lets one writer in
    at a time already), so that two admins demoting each other at once cannot both count the other one."""
    admins = session.scalars(
        select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True)).order_by(User.id).with_for_update()
    ).all()
    if not [admin for admin in admins if admin != leaving.id]:
        raise Conflict("This is the last active admin; make another admin first.")


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
