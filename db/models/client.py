"""Clinic clients. Deleting one is soft: the record stays for the clinic's retention duty."""

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, IdMixin, TimestampMixin

# Made by the migration on PostgreSQL only (a pg_trgm GIN index), so not declared on the model.
POSTGRESQL_SEARCH_INDEX = "ix_clients_search_trgm"


class Client(IdMixin, TimestampMixin, Base):
    __tablename__ = "clients"
    __table_args__ = (
        # One live client per email; a deleted client's email may be registered again.
        Index(
            "uq_clients_email_live",
            "email",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Carries search_text on PostgreSQL, so a search walks it in name order without reading the table.
        Index(
            "ix_clients_live_name_order",
            "last_name",
            "first_name",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
            postgresql_include=["search_text"],
        ),
    )

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date]
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    # Lower-case name, email and phone digits in one column: what the search matches.
    search_text: Mapped[str] = mapped_column(String(600))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


def phone_digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def client_search_text(*, first_name: str, last_name: str, email: str | None, phone: str | None) -> str:
    """The text a client search matches against: names, email and the phone's digits."""
    parts = [first_name, last_name, email or "", phone_digits(phone)]
    return " ".join(part for part in parts if part).lower()
