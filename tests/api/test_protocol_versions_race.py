"""Race safety of new protocol versions: two people starting the next version of one approved protocol at the same
moment, on databases that really commit, both get a draft, numbered one after the other (never a 500 on the
version number both read)."""

import contextlib
import threading
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.actor import Actor, Origin
from api.services import clinic_settings, protocols, rule_sets
from db.models import Protocol, ProtocolStatus, Role, User
from db.session import transaction
from tests.api.clinic import STEP

# How long each new version, once numbered, waits for the other to be numbered too before it commits. Without a
# lock both read the same latest version in that time; with one, the second waits for the first to commit.
BOTH_NUMBERED_S = 1.0


def approved(session: Session) -> tuple[uuid.UUID, uuid.UUID]:
    """An esthetician, and version 1 of a protocol, approved."""
    esthetician = User(
        email="versions@clinic.example.com", full_name="Esme", role=Role.ESTHETICIAN, password_hash="unused"
    )
    session.add(esthetician)
    session.flush()
    protocol = Protocol(
        lineage_id=uuid.uuid4(),
        version=1,
        name="Lift",
        target={"areas": [], "goal": ""},
        steps=[STEP],
        total_output_s=STEP["duration_s"],
        max_current_ua=STEP["current_ua"],
        status=ProtocolStatus.APPROVED,
        sha256=protocols.steps_sha256([STEP]),
        created_by_id=esthetician.id,
    )
    session.add(protocol)
    session.flush()
    return esthetician.id, protocol.id


def test_two_new_versions_at_once_are_numbered_one_after_the_other(committing_factory: sessionmaker[Session]) -> None:
    with transaction(committing_factory) as session:
        esthetician_id, protocol_id = approved(session)
    start, numbered = threading.Barrier(2), threading.Barrier(2)
    outcomes: list[str] = []

    def new_version() -> None:
        start.wait()  # two estheticians press "Save draft" on the new version at once, each on their own connection
        try:
            with transaction(committing_factory) as session:
                actor = session.get(User, esthetician_id)
                assert actor is not None
                clinic = clinic_settings.stored(session, default_timezone="UTC").settings
                rules = rule_sets.parameters(rule_sets.current(session))
                protocols.edit(
                    session,
                    actor=Actor(actor, Origin(None, None)),
                    protocol_id=protocol_id,
                    changes={},
                    clinic=clinic,
                    rules=rules,
                )
                with contextlib.suppress(threading.BrokenBarrierError):  # the other is held back till this commits
                    numbered.wait(timeout=BOTH_NUMBERED_S)
            outcomes.append("made")
        except Exception as exc:  # noqa: BLE001 - any failure is what this test is about, named in its assertion
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=new_version) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == ["made", "made"]
    with committing_factory() as session:
        found = session.execute(select(Protocol.version, Protocol.status).order_by(Protocol.version)).all()
    assert [(v, s) for v, s in found] == [
        (1, ProtocolStatus.APPROVED),
        (2, ProtocolStatus.DRAFT),
        (3, ProtocolStatus.DRAFT),
    ]
