"""Staff accounts and log-in."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from api.schemas.common import Email, Output, StrictInput
from db.models import Role

Password = Annotated[str, StringConstraints(min_length=10, max_length=128)]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class UserCreate(StrictInput):
    email: Email
    password: Password
    full_name: FullName
    role: Role


class UserUpdate(StrictInput):
    full_name: FullName | None = None
    role: Role | None = None
    is_active: bool | None = None
    password: Password | None = None
    unlock: bool | None = None


class UserRead(Output):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    locked_until: datetime | None = None  # the latest end of the account's log-in locks, at any address
    created_at: datetime


class LoginLockRead(BaseModel):
    """Log-ins with this account's email are refused from this address until then (too many failures)."""

    address: str
    locked_until: datetime


class UserAdminRead(UserRead):
    """What an admin sees: also where the account is locked, to lift it (`{"unlock": true}`)."""

    login_locks: list[LoginLockRead]


class Token(Output):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_at: datetime
