"""Failed log-ins counted per client address, and per email typed from that address.

A guesser is stopped at their own address; the account's owner, elsewhere, still logs in. The counts live in
the database so that every API worker sees the same ones.
"""

import hashlib
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

WHOLE_ADDRESS = ""  # the `account` of the row that counts every failure from an address, whatever the email


def account_key(email: str) -> str:
    """The email as typed (trimmed, lower-cased), digested: a password typed into the email box is not kept."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class LoginThrottle(Base):
    __tablename__ = "login_throttles"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)  # the client's IP address
    account: Mapped[str] = mapped_column(String(64), primary_key=True)  # account_key(email) or WHOLE_ADDRESS
    failures: Mapped[int] = mapped_column(default=0)  # in the window that started at window_started_at
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)  # after this the row counts for nothing
