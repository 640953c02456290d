"""The record of a session counts current by its magnitude, and costs what was stored, whatever seq a device sent."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.services.delivery import MISSING_LISTED, missing
from db.models import Role, TreatmentSession, User
from tests.api.clinic import Room, ok, ready_room, telemetry_row


@pytest.fixture
def room(client: TestClient, as_role: dict, staff: dict[Role, User], db: Session) -> Room:
    """A room, a client screened and an appointment due with a 20 s + 10 s protocol (200 and 150 µA)."""
    return ready_room(client, as_role, staff, db)


def started(room: Room) -> TreatmentSession:
    treatment = room.db.get(TreatmentSession, uuid.UUID(room.start()["session_id"]))
    assert treatment is not None
    return treatment


def stored(db: Session, treatment: TreatmentSession, blocks: dict[int, tuple[int, list[float]]]) -> None:
    """Telemetry blocks written straight into the table, by seq: (step, samples at 100 ms), all with contact."""
    for seq, (step, samples) in blocks.items():
        db.add(telemetry_row(treatment, seq, step, samples))
    db.commit()


def record(room: Room, treatment: TreatmentSession) -> dict:
    return ok(room.http.get(f"/api/v1/sessions/{treatment.id}", headers=room.as_role[Role.ESTHETICIAN]))


def test_current_below_zero_counts_by_its_magnitude(room: Room) -> None:
    treatment = started(room)
    stored(room.db, treatment, {1: (0, [200.0] * 10), 2: (0, [-5000.0] * 10), 3: (1, [150.0, -150.0] * 5)})
    read = record(room, treatment)
    first, second = read["steps"]
    assert (first["delivered_peak_ua"], first["delivered_mean_ua"]) == (5000.0, 2600.0)  # not 200 and -2400
    assert (first["charge_uc"], first["output_s"]) == (5200.0, 2.0)  # ∫|I| dt: (200 + 5000) µA × 1 s
    assert (second["delivered_peak_ua"], second["delivered_mean_ua"], second["charge_uc"]) == (150.0, 150.0, 150.0)
    assert read["total_charge_uc"] == 5350.0
    assert [part["charge_uc"] for part in read["parts"]] == [5350.0]


def test_a_huge_seq_costs_no_more_than_what_was_stored(room: Room) -> None:
    treatment = started(room)  # as a database could hold from before seqs were bounded
    stored(room.db, treatment, {1: (0, [200.0] * 10), 2: (0, [200.0] * 10), 2_000_000: (0, [200.0] * 10)})
    read = record(room, treatment)
    assert read["missing_seqs"] == list(range(3, 3 + MISSING_LISTED))
    assert (read["missing_count"], read["missing_truncated"]) == (2_000_000 - 3, True)


@pytest.mark.parametrize(
    ("seqs", "listed", "count"),
    [
        ([], [], 0),
        ([1, 2, 3], [], 0),
        ([3, 1, 1], [2], 1),  # a repeat is one seq
        ([MISSING_LISTED + 1], list(range(1, MISSING_LISTED + 1)), MISSING_LISTED),  # every one of them listed
        ([1, 5, 2**31 - 1], [2, 3, 4, *range(6, MISSING_LISTED + 3)], 2**31 - 1 - 3),
    ],
)
def test_missing_lists_the_first_gaps_and_counts_them_all(seqs: list[int], listed: list[int], count: int) -> None:
    assert missing(seqs) == {"missing_seqs": listed, "missing_count": count, "missing_truncated": count > len(listed)}
