"""Client records."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from starlette.concurrency import run_in_threadpool

from api.deps import ClientsDeleter, ClientsReader, ClientsWriter, ClinicToday, SessionDep
from api.openapi import CONFLICT
from api.schemas.clients import ClientCreate, ClientPage, ClientRead, ClientUpdate
from api.services import clients

router = APIRouter(prefix="/clients", tags=["clients"])
MAX_PAGE = 200


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_client(data: ClientCreate, session: SessionDep, actor: ClientsWriter, today: ClinicToday) -> ClientRead:
    """Register a client."""
    return ClientRead.model_validate(clients.create(session, actor=actor, data=data, today=today))


@router.get("")
async def list_clients(
    session: SessionDep,
    actor: ClientsReader,
    q: Annotated[str | None, Query(max_length=100, description="Part of a name, email or phone")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ClientPage:
    """Find clients by name, email or phone (case-insensitive, partial), by last name."""
    # Asked for on every keystroke, so `async` with the search sent to a worker thread: a plain `def` route would
    # cost a second hop there and back, to check its answer, which is already a ClientPage.
    page, has_more = await run_in_threadpool(clients.search, session, actor=actor, q=q, limit=limit, offset=offset)
    return ClientPage(items=page, limit=limit, offset=offset, has_more=has_more)


@router.get("/{client_id}")
def read_client(client_id: uuid.UUID, session: SessionDep, actor: ClientsReader) -> ClientRead:
    """One client record."""
    return ClientRead.model_validate(clients.read(session, actor=actor, client_id=client_id))


@router.patch("/{client_id}", responses=CONFLICT)
def update_client(
    client_id: uuid.UUID, data: ClientUpdate, session: SessionDep, actor: ClientsWriter, today: ClinicToday
) -> ClientRead:
    """Change the fields given."""
    return ClientRead.model_validate(clients.update(session, actor=actor, client_id=client_id, data=data, today=today))


@router.delete("/{client_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_client(client_id: uuid.UUID, session: SessionDep, actor: ClientsDeleter) -> None:
    """Remove a client from lists and lookups; the record is kept for the clinic's retention duty."""
    clients.delete(session, actor=actor, client_id=client_id)
