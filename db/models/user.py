"""Staff accounts."""

from enum import StrEnum

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, TimestampMixin


class Role(StrEnum):
    ADMIN = "admin"
    MEDICAL_DIRECTOR = "medical_director"
    ESTHETICIAN = "esthetician"
    FRONT_DESK = "front_desk"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            name="role",
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda roles: [r.value for r in roles],
        )
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Every token carries the number in force when it was issued; a password change or a deactivation raises
    # it, which ends every earlier log-in of the account at once.
    token_generation: Mapped[int] = mapped_column(default=0, server_default="0")
