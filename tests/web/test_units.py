"""The pages' own small rules, without a browser: where `next` may lead, the grid's layout, the words of states."""

import uuid
from datetime import UTC, date, datetime, time

import pytest

from api.schemas.alarms import AlarmRead
from api.services.screening_engine import Verdict
from api.services.screenings import Eligibility
from db.models import AlarmSeverity, AppointmentStatus, DeviceStatus
from db.vocabulary import Outcome
from web.session import csrf_matches, csrf_token, local_path
from web.today import Card, _column, _rows, alarm_badge, device_badge, screening_badge

DAY = date(2026, 3, 3)


@pytest.mark.parametrize("given", ["/today", "/today?day=2026-03-04", "/clients/1?q=a%20b"])
def test_next_may_be_a_path_of_this_site(given: str) -> None:
    assert local_path(given) == given


@pytest.mark.parametrize(
    "given",
    [
        None,
        "",
        "today",
        "https://evil.example",
        "//evil.example/today",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "\\\\evil",
    ],
)
def test_next_never_leads_to_another_site(given: str | None) -> None:
    assert local_path(given) == "/today"


def test_a_csrf_token_belongs_to_one_session_and_one_key() -> None:
    token = csrf_token("session-a", key="k" * 40)
    assert csrf_matches(token, "session-a", key="k" * 40)
    assert not csrf_matches(token, "session-b", key="k" * 40)
    assert not csrf_matches(token, "session-a", key="j" * 40)
    assert not csrf_matches(None, "session-a", key="k" * 40)
    assert not csrf_matches(token, None, key="k" * 40)
    assert not csrf_matches("é" * 64, "session-a", key="k" * 40)  # refused, not a 500


def _card(start: str, end: str, name: str = "A") -> Card:
    return Card(
        id=uuid.uuid4(),
        start=datetime.combine(DAY, time.fromisoformat(start)),
        end=datetime.combine(DAY, time.fromisoformat(end)),
        client_name=name,
        room="R",
        esthetician="E",
        sequence=1,
        sessions=12,
        status=AppointmentStatus.BOOKED,
        screening=None,
    )


def test_cards_that_share_a_quarter_hour_share_a_cell_and_cover_the_rows_below() -> None:
    origin = datetime.combine(DAY, time(9))
    first, second, later = _card("09:00", "09:40"), _card("09:40", "10:10"), _card("11:05", "11:20")
    column = _column(12, origin, [later, second, first])
    cell = column[0]
    assert cell is not None and cell.cards == [first, second] and cell.rowspan == 5  # 09:00 to 10:15
    assert column[1:5] == [None] * 4
    assert column[5] is not None and not column[5].cards  # 10:15 is free
    assert column[8] is not None and column[8].cards == [later] and column[8].rowspan == 2  # 11:00 to 11:30


def test_the_rows_cover_the_opening_hours_and_any_appointment_outside_them() -> None:
    early = _card("07:10", "07:45")
    rows = _rows(
        DAY,
        [early],
        {early.id: uuid.UUID(int=1)},
        [uuid.UUID(int=1)],
        (time(8), time(10)),
        now=datetime.combine(DAY, time(9, 20)),
    )
    assert (rows[0].at, rows[-1].at, len(rows)) == (time(7), time(9, 45), 12)
    assert [r.at for r in rows if r.now] == [time(9, 15)]
    assert [r.at for r in rows if r.on_the_hour] == [time(7), time(8), time(9)]


def _eligibility(outcome: Outcome | None, eligible_from: date | None = None) -> Eligibility:
    verdict = Verdict(outcome=outcome, reasons=[], eligible_from=eligible_from) if outcome else None
    return Eligibility(on=DAY, verdict=verdict, screening_id=None, rule_set_version=1)


@pytest.mark.parametrize(
    ("outcome", "eligible_from", "words"),
    [
        (Outcome.CLEARED, None, "Cleared"),
        (Outcome.CLEARED_WITH_EXCLUSIONS, date(2026, 4, 1), "Cleared, with zone exclusions until 1 Apr 2026"),
        (Outcome.DEFERRED, date(2027, 3, 12), "Deferred until 12 Mar 2027"),
        (Outcome.DEFERRED, None, "Deferred until a new screening"),
        (Outcome.PHYSICIAN_APPROVAL_REQUIRED, None, "Needs a physician's approval"),
        (Outcome.CONTRAINDICATED, None, "Contraindicated: do not treat"),
        (None, None, "Needs a new screening"),
    ],
)
def test_the_screening_state_in_words_outcome_and_date_only(
    outcome: Outcome | None, eligible_from: date | None, words: str
) -> None:
    assert screening_badge(_eligibility(outcome, eligible_from)).words == words


def test_device_states_in_words_with_the_alarm_colours_for_what_needs_someone() -> None:
    assert device_badge("fault", DeviceStatus.IN_SERVICE, live=True).tone == "alarm-high"
    assert device_badge("offline", DeviceStatus.IN_SERVICE, live=True).tone == "alarm-medium"
    stale = device_badge("treating", DeviceStatus.IN_SERVICE, live=False)
    assert (stale.words, stale.tone) == ("Treating (last known: no gateway connected)", "alarm-low")
    assert device_badge("idle", DeviceStatus.OUT_OF_SERVICE, live=True).words == "Out of service"


def test_an_alarm_in_a_rooms_column_says_its_priority_and_name_in_few_words() -> None:
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    alarm = AlarmRead(
        id=uuid.uuid4(),
        device_id=uuid.uuid4(),
        device_serial="LILY-001",
        room="Lily room",
        session_id=None,
        kind="device_offline",
        title="Device offline in opening hours",
        severity=AlarmSeverity.MEDIUM,
        began_at=now,
        ended_at=None,
        detail="",
        active=True,
        acknowledged_by=None,
        acknowledged_at=None,
    )
    badge = alarm_badge(alarm)
    assert (badge.words, badge.tone, badge.symbol) == (
        "Medium alarm: Device offline in opening hours",
        "alarm-medium",
        "!!",
    )
