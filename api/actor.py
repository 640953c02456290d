"""Who is making a request, and from where: what services need to know for the audit trail."""

from dataclasses import dataclass

from db.models import User


@dataclass(frozen=True)
class Origin:
    """Where a request came from."""

    ip_address: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Actor:
    """The signed-in staff member making this request, and from where."""

    user: User
    origin: Origin
