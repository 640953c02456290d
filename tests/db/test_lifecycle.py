"""A session's lifecycle: the moves allowed are data, and a move that is not allowed is refused."""

import pytest

from db.errors import Conflict
from db.lifecycle import (
    DEVICE_STATUS,
    EVENT_STATUS,
    FINAL,
    RUNNING,
    TRANSITIONS,
    UNFINISHED,
    SessionStatus,
    TransitionRefused,
    move,
)
from db.models import TreatmentSession


def test_every_status_has_its_moves_and_a_final_one_has_none() -> None:
    assert set(TRANSITIONS) == set(SessionStatus)
    assert all(not TRANSITIONS[status] for status in FINAL)
    assert all(TRANSITIONS[status] for status in UNFINISHED)
    assert RUNNING | {SessionStatus.INTERRUPTED} == UNFINISHED


def test_interrupted_is_not_final_a_device_back_moves_it_on() -> None:
    for to in {*DEVICE_STATUS.values(), *EVENT_STATUS.values()}:
        treatment = TreatmentSession(status=SessionStatus.INTERRUPTED)
        move(treatment, to)
        assert treatment.status == to


@pytest.mark.parametrize("final", sorted(FINAL))
def test_an_ended_session_stays_ended(final: SessionStatus) -> None:
    treatment = TreatmentSession(status=final)
    with pytest.raises(TransitionRefused, match=f"A session that is {final.value} cannot become treating"):
        move(treatment, SessionStatus.TREATING)
    assert treatment.status == final
    assert issubclass(TransitionRefused, Conflict)  # one error family for the API and the gateway


def test_arming_and_ending_are_timed() -> None:
    treatment = TreatmentSession(status=SessionStatus.PENDING)
    move(treatment, SessionStatus.ARMED)
    assert treatment.armed_at is not None and treatment.ended_at is None
    move(treatment, SessionStatus.TREATING)
    assert treatment.ended_at is None
    move(treatment, SessionStatus.INTERRUPTED)
    assert treatment.ended_at is not None
    move(treatment, SessionStatus.PAUSED)  # the device reports on: it had not ended after all
    assert treatment.ended_at is None


def test_only_a_pending_session_is_armed_or_rejected() -> None:
    for status in set(SessionStatus) - {SessionStatus.PENDING}:
        assert SessionStatus.REJECTED not in TRANSITIONS[status]
    assert SessionStatus.ARMED not in TRANSITIONS[SessionStatus.TREATING]
