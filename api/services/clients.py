"""Client records: register, find, change, soft-delete. Every read and write is audited."""

import re
import uuid
from collections.abc import Collection, Sequence
from datetime import date
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Row, Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.actor import Actor
from api.errors import Conflict, InvalidInput, NotFound
from api.schemas.clients import ClientCreate, ClientRead, ClientUpdate
from api.services import audit
from db.base import utcnow
from db.models import Client
from db.models.client import client_search_text, phone_digits

RECORD = "client"
REQUIRED_FIELDS = ("first_name", "last_name", "date_of_birth")
NAME_ORDER = (Client.last_name, Client.first_name, Client.id)
PAGE_COLUMNS = tuple(getattr(Client, name) for name in ClientRead.model_fields)  # what a found client shows
CLIENT_LIST = TypeAdapter(list[ClientRead])
# Up to this many matches are collected and sorted; beyond it the name index is walked instead. Sorting costs about
# 1 µs a match, the walk about 0.2 µs an entry for 51 ÷ (share matching) entries: the two cost the same near 1,000
# matches among 100,000 clients.
MATCH_CAP = 1000
TRIGRAM = 3  # a term shorter than this has no trigram: PostgreSQL's trigram index cannot find it
_PHONE_LIKE = re.compile(r"^[\d\s()+\-.]*\d{3}[\d\s()+\-.]*$")


def create(session: Session, *, actor: Actor, data: ClientCreate, today: date) -> Client:
    """Register a client; `today` is the clinic's day, which a date of birth cannot come after."""
    _refuse_unborn(data.date_of_birth, today=today)
    _require_contact(email=data.email, phone=data.phone)
    if data.email:
        _refuse_duplicate_email(session, email=data.email)
    client = Client(**data.model_dump(), created_by_id=actor.user.id)
    _refresh_search_text(client)
    session.add(client)
    _flush_or_conflict(session, email=data.email)
    audit.record(session, actor=actor, action="client.create", record_type=RECORD, record_id=client.id)
    return client


def read(session: Session, *, actor: Actor, client_id: uuid.UUID) -> Client:
    client = get_live(session, client_id=client_id)
    audit.record(session, actor=actor, action="client.read", record_type=RECORD, record_id=client.id)
    return client


def get_live(session: Session, *, client_id: uuid.UUID) -> Client:
    """A client that has not been deleted, or NotFound."""
    client = session.get(Client, client_id)
    if client is None or client.deleted_at is not None:
        raise NotFound("There is no client with this id.")
    return client


def live_by_id(session: Session, *, client_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Client]:
    """The clients among these that have not been deleted, by id, in one query (the others are left out)."""
    if not client_ids:
        return {}
    found = session.scalars(select(Client).where(Client.id.in_(client_ids), Client.deleted_at.is_(None)))
    return {client.id: client for client in found}


def search(session: Session, *, actor: Actor, q: str | None, limit: int, offset: int) -> tuple[list[ClientRead], bool]:
    """Live clients whose name, email or phone contains every word of `q`, by name; with whether more follow.

    Read as columns (one statement; two past the cap) and checked straight into the answer's schema: a page of ORM
    objects cost more than the rest of the search together."""
    rows = _page_rows(session, search_terms(q), limit=limit + 1, offset=offset)
    page = CLIENT_LIST.validate_python(rows[:limit], from_attributes=True)
    audit.record_reads(session, actor=actor, action="client.list", record_type=RECORD, record_ids=(c.id for c in page))
    return page, len(rows) > limit


def _page_rows(session: Session, terms: list[str], *, limit: int, offset: int) -> Sequence[Row[Any]]:
    """One page in name order, read so that PostgreSQL touches few rows whatever the terms."""
    values: dict[str, Any] = {"limit": limit, "offset": offset, "cap": MATCH_CAP + 1}
    values |= {f"term_{i}": f"%{_escape_like(term)}%" for i, term in enumerate(terms)}
    # Core on the session's connection: the ORM adds nothing to plain columns but its cost.
    connection = session.connection()
    if any(len(term) >= TRIGRAM for term in terms):
        if connection.dialect.name == "postgresql":
            # Planned for these very terms: a plan kept for any terms scanned the whole trigram index for
            # a common one ('com': 5 ms), where reading the table is faster.
            connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = connection.execute(_page_among_matches(len(terms)), values).all()
        # Up to MATCH_CAP matches (or none past the first page): the page is theirs.
        if not ((rows and rows[0].total > MATCH_CAP) or (not rows and offset)):
            return rows
    # No terms, terms too short for the trigram index, or so common that walking the name index (which carries
    # search_text, so no row is read until the page is known) fills a page fast.
    return connection.execute(_page_by_name(len(terms)), values).all()


# Both statements are built once for each number of terms and bound for each search. Each finds the page's ids
# first, from as few and as narrow rows as it can, and reads the page's columns for those alone.


@cache
def _page_by_name(term_count: int) -> Select[Any]:
    """A page walked along the name index."""
    page = (
        select(Client.id)
        .where(*_conditions(term_count))
        .order_by(*NAME_ORDER)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    return select(*PAGE_COLUMNS).join(page, Client.id == page.c.id).order_by(*NAME_ORDER)


@cache
def _page_among_matches(term_count: int) -> Select[Any]:
    """A page out of every match, with their number (up to the cap), found through the trigram index.

    Left to itself, PostgreSQL may walk the name index for rare terms too, and a full last name's
    matches sit together at one point of the alphabet: it would test every client before them.
    """
    matching = (
        select(*NAME_ORDER)
        .where(*_conditions(term_count))
        .limit(bindparam("cap"))
        .cte("matching")
        .prefix_with("MATERIALIZED")
    )
    total = select(func.count()).select_from(matching).scalar_subquery()
    page = (
        select(matching.c.id, total.label("total"))
        .order_by(matching.c.last_name, matching.c.first_name, matching.c.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    return select(*PAGE_COLUMNS, page.c.total).join(page, Client.id == page.c.id).order_by(*NAME_ORDER)


def _conditions(term_count: int) -> list[ColumnElement[bool]]:
    """Live, and containing each term. The pattern is bound whole, not built in SQL, so PostgreSQL's trigram
    index can serve it."""
    contains = [Client.search_text.like(bindparam(f"term_{i}"), escape="\\") for i in range(term_count)]
    return [Client.deleted_at.is_(None), *contains]


def search_terms(q: str | None) -> list[str]:
    """Lower-case words to match; a phone-like query becomes its digits, however it is punctuated."""
    q = (q or "").strip().lower()
    if not q:
        return []
    if _PHONE_LIKE.match(q):
        return [phone_digits(q)]
    return q.split()


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def update(session: Session, *, actor: Actor, client_id: uuid.UUID, data: ClientUpdate, today: date) -> Client:
    """Change the fields given; `today` is the clinic's day, which a date of birth cannot come after."""
    if data.date_of_birth is not None:
        _refuse_unborn(data.date_of_birth, today=today)
    client = get_live(session, client_id=client_id)
    changes = data.model_dump(exclude_unset=True)
    for field in REQUIRED_FIELDS:
        if field in changes and changes[field] is None:
            raise InvalidInput(field, "cannot be removed from a client record")
    _require_contact(email=changes.get("email", client.email), phone=changes.get("phone", client.phone))
    new_email = changes.get("email")
    if new_email and new_email != client.email:
        _refuse_duplicate_email(session, email=new_email)
    changed = _apply(client, changes)
    _refresh_search_text(client)
    _flush_or_conflict(session, email=new_email)
    audit.record(
        session,
        actor=actor,
        action="client.update",
        record_type=RECORD,
        record_id=client.id,
        detail={"fields": changed},
    )
    return client


def delete(session: Session, *, actor: Actor, client_id: uuid.UUID) -> None:
    """Soft delete: the record leaves the lists and lookups but stays stored."""
    client = get_live(session, client_id=client_id)
    client.deleted_at = utcnow()
    client.deleted_by_id = actor.user.id
    session.flush()
    audit.record(session, actor=actor, action="client.delete", record_type=RECORD, record_id=client.id)


def _apply(client: Client, changes: dict[str, Any]) -> list[str]:
    changed = [field for field, value in changes.items() if getattr(client, field) != value]
    for field in changed:
        setattr(client, field, changes[field])
    return sorted(changed)


def _refresh_search_text(client: Client) -> None:
    client.search_text = client_search_text(
        first_name=client.first_name, last_name=client.last_name, email=client.email, phone=client.phone
    )


def _refuse_unborn(date_of_birth: date, *, today: date) -> None:
    if date_of_birth > today:
        raise InvalidInput("date_of_birth", "cannot be in the future")


def _require_contact(*, email: str | None, phone: str | None) -> None:
    if not email and not phone:
        raise InvalidInput("email", "give an email or a phone number, so the clinic can reach the client")


def _refuse_duplicate_email(session: Session, *, email: str) -> None:
    taken = session.scalar(select(Client.id).where(Client.email == email, Client.deleted_at.is_(None)))
    if taken is not None:
        raise Conflict(f"Another client already has the email {email}.")


def _flush_or_conflict(session: Session, *, email: str | None) -> None:
    """Flush; two desks registering the same email at once meet the unique index here."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Another client already has the email {email}.") from exc
