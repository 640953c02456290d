"""Race safety of the last admin: two admins demoting each other at the same moment, on databases that really
commit, leave one admin."""

import contextlib
import threading
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.actor import Actor, Origin
from api.errors import Conflict
from api.schemas.users import UserUpdate
from api.services import users
from db.models import Role, User
from db.session import transaction

# How long each demotion, once checked, waits for the other's check before it commits. Without a lock both
# checks pass in that time; with one, the second waits for the first to commit, and then counts right.
BOTH_CHECKED_S = 1.0


def test_two_admins_demoting_each_other_at_once_leave_one(committing_factory: sessionmaker[Session]) -> None:
    with transaction(committing_factory) as session:
        admins = [
            User(email=f"admin-{n}@clinic.example.com", full_name=f"Admin {n}", role=Role.ADMIN, password_hash="unused")
            for n in (1, 2)
        ]
        session.add_all(admins)
        session.flush()
        first, second = (admin.id for admin in admins)
    start, checked = threading.Barrier(2), threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor_id: uuid.UUID, user_id: uuid.UUID) -> None:
        start.wait()  # both admins press "save" at once, each on their own connection
        try:
            with transaction(committing_factory) as session:
                actor = session.get(User, actor_id)
                assert actor is not None
                users.update(
                    session,
                    actor=Actor(actor, Origin(None, None)),
                    user_id=user_id,
                    data=UserUpdate(role=Role.ESTHETICIAN),
                )
                with contextlib.suppress(threading.BrokenBarrierError):  # the other is held back till this commits
                    checked.wait(timeout=BOTH_CHECKED_S)
            outcomes.append("demoted")
        except Conflict:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["demoted", "refused"]
    with committing_factory() as session:
        left = session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN))
    assert left == 1
