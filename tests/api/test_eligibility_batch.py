"""The eligibility of many clients at once: each client's own check, audited as one event naming every client and
the screening its check used, in statements that do not grow with the number of clients."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from api.actor import Actor, Origin
from api.schemas.screening import DayOfAnswers
from api.services import clients, screenings
from db.models import AuditEvent, Client, Role, User
from db.vocabulary import Outcome
from tests.api.clinic import LONDON, new_client, ok, screened_client, statements
from tests.factories import NOTHING

TODAY = datetime.now(LONDON).date()  # the test clinic's zone


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def approval(**fields: Any) -> dict[str, Any]:
    return {
        "physician_name": "Dr. Okafor",
        "scope": "pregnancy",
        "approved_on": day(-1),
        "valid_until": day(90),
        "document_reference": "scan 114",
    } | fields


@pytest.fixture
def every_state(client: TestClient, as_role: dict[Role, dict[str, str]], db: Session) -> dict[str, Client]:
    """A client in each state the check can find, by first name: cleared; zone exclusions; deferred; needing an
    approval, with one, with one that lapses, with one revoked; contraindicated; screened again since; never."""
    made = {
        "Cleared": screened_client(client, as_role, "Cleared"),
        "Excluded": screened_client(client, as_role, "Excluded", botox_last_on=day(-5), botox_zones=["forehead"]),
        "Deferred": screened_client(client, as_role, "Deferred", retinol_last_used_on=day(-1)),
        "Waiting": screened_client(client, as_role, "Waiting", pregnant=True),
        "Approved": screened_client(client, as_role, "Approved", approval(), pregnant=True),
        "Lapsing": screened_client(client, as_role, "Lapsing", approval(valid_until=day(5)), pregnant=True),
        "Revoked": screened_client(client, as_role, "Revoked", approval(), pregnant=True),
        "Contraindicated": screened_client(client, as_role, "Contraindicated", epilepsy=True),
        "Rescreened": screened_client(client, as_role, "Rescreened", epilepsy=True),
        "Never": new_client(client, as_role[Role.FRONT_DESK], "Never"),
    }
    director, approvals = as_role[Role.MEDICAL_DIRECTOR], f"/api/v1/clients/{made['Revoked']}/physician-approvals"
    [given] = ok(client.get(approvals, headers=director))
    ok(client.post(f"{approvals}/{given['id']}/revoke", headers=director, json={"reason": "withdrawn"}))
    again = {"answers": NOTHING}  # the newest screening is the one that counts
    ok(
        client.post(f"/api/v1/clients/{made['Rescreened']}/screenings", headers=as_role[Role.ESTHETICIAN], json=again),
        201,
    )
    live = clients.live_by_id(db, client_ids=[uuid.UUID(i) for i in made.values()])
    return {name: live[uuid.UUID(i)] for name, i in made.items()}


@pytest.fixture
def desk(staff: dict[Role, User]) -> Actor:
    return Actor(staff[Role.FRONT_DESK], Origin("desk", None))


def eligibility_events(db: Session) -> list[AuditEvent]:
    """The eligibility checks' audit events, oldest first."""
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == "screening.eligibility").order_by(AuditEvent.id))
    )


def said(event: AuditEvent) -> tuple[Any, ...]:
    """What an event says, but which records and when."""
    return (event.user_id, event.action, event.record_type, event.record_id, event.ip_address)


@pytest.mark.parametrize(
    ("offset", "day_of"),
    [(0, {}), (0, {"pregnant": True}), (3, {"retinol_last_used_on": day(0)}), (12, {}), (31, {})],
)
def test_many_at_once_answer_as_each_alone_and_are_audited_as_one_read(
    every_state: dict[str, Client], desk: Actor, db: Session, offset: int, day_of: dict[str, Any]
) -> None:
    live, on, answers = list(every_state.values()), TODAY + timedelta(days=offset), DayOfAnswers.model_validate(day_of)
    alone = {
        c.id: screenings.check_eligibility(db, actor=desk, client_id=c.id, on=on, day_of=answers, today=TODAY)
        for c in live
    }
    audited_alone = eligibility_events(db)
    at_once = screenings.check_eligibility_of(db, actor=desk, live=live, on=on, day_of=answers, today=TODAY)
    assert at_once == alone
    assert [e.record_ids for e in audited_alone] == [[str(c.id)] for c in live]
    [audited_at_once] = eligibility_events(db)[len(live) :]
    assert audited_at_once.record_ids == [str(c.id) for c in live]
    assert {said(e) for e in audited_alone} == {said(audited_at_once)}
    used = {
        str(c.id): str(at_once[c.id].screening_id) if at_once[c.id].screening_id else None for c in live
    }  # the screening each check judged, none for the client never screened
    assert audited_at_once.detail == {"screening_ids": used}
    assert [e.detail for e in audited_alone] == [{"screening_ids": {i: s}} for i, s in used.items()]
    assert used[str(every_state["Never"].id)] is None


def test_many_at_once_take_the_statements_of_one(
    every_state: dict[str, Client], desk: Actor, db: Session, connection: Connection
) -> None:
    check = {"actor": desk, "on": TODAY, "day_of": DayOfAnswers(), "today": TODAY}
    with statements(connection) as for_one:
        screenings.check_eligibility_of(db, live=[every_state["Approved"]], **check)
    with statements(connection) as for_all:
        at_once = screenings.check_eligibility_of(db, live=list(every_state.values()), **check)
    assert len(for_all) == len(for_one)
    assert len([s for s in for_all if s.startswith("INSERT INTO audit_events")]) == 1
    outcomes = {
        name: at_once[c.id].verdict.outcome if at_once[c.id].verdict else None for name, c in every_state.items()
    }
    assert outcomes == {
        "Cleared": Outcome.CLEARED,
        "Excluded": Outcome.CLEARED_WITH_EXCLUSIONS,
        "Deferred": Outcome.DEFERRED,
        "Waiting": Outcome.PHYSICIAN_APPROVAL_REQUIRED,
        "Approved": Outcome.CLEARED,
        "Lapsing": Outcome.CLEARED,
        "Revoked": Outcome.PHYSICIAN_APPROVAL_REQUIRED,
        "Contraindicated": Outcome.CONTRAINDICATED,
        "Rescreened": Outcome.CLEARED,
        "Never": None,
    }
