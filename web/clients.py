"""A client's page, read through the services the API uses: the details, what limits treatment now (the API's own
eligibility check), the screenings, the physicians' approvals, the series and the sessions so far.

Who sees what comes from api/permissions.py, here, once: the template only shows what it is given. Reasons and
approvals are health data, shown to the roles that may read the screening answers and the approvals."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.actor import Actor
from api.permissions import Permission, allows
from api.schemas.clinic_settings import ClinicSettings
from api.schemas.screening import DayOfAnswers
from api.services import approvals, client_history, clients, rooms, screenings, series, users
from api.services.screening_engine import Kind, Reason, age_on
from api.services.screenings import Eligibility, Judged
from db.lifecycle import SessionStatus
from db.models import Appointment, AppointmentStatus, Client, PhysicianApproval, Series
from db.vocabulary import ApprovalScope
from web.templating import short_date as short
from web.today import Badge, screening_badge

# What each role may do on the page, named for the template.
ABILITIES = {
    "edit": Permission.CLIENTS_WRITE,
    "delete": Permission.CLIENTS_DELETE,
    "screen": Permission.SCREENINGS_WRITE,
    "read_reasons": Permission.SCREENING_ANSWERS_READ,
    "check_eligibility": Permission.ELIGIBILITY_CHECK,
    "read_approvals": Permission.APPROVALS_READ,
    "record_approval": Permission.APPROVALS_RECORD,
    "revoke_approval": Permission.APPROVALS_REVOKE,
    "book": Permission.BOOKINGS_WRITE,
    "open_appointments": Permission.BOOKINGS_READ,
    "read_sessions": Permission.SESSIONS_READ,
}
SCOPE_WORDS = {
    ApprovalScope.PREGNANCY: "Pregnancy",
    ApprovalScope.BODY_WORN_ELECTRONICS: "Body-worn electronics (insulin pump, glucose monitor)",
    ApprovalScope.RECENT_FACIAL_SURGERY: "Recent facial surgery",
}
APPOINTMENT_BADGES = {
    AppointmentStatus.BOOKED: Badge("Booked", "active", "●"),
    AppointmentStatus.COMPLETED: Badge("Completed", "ok", "✓"),
    AppointmentStatus.CANCELLED: Badge("Cancelled", "muted", "–"),
}
SESSION_BADGES = {
    SessionStatus.PENDING: Badge("Waiting for the device", "active", "…"),
    SessionStatus.ARMED: Badge("Armed, not started", "active", "▲"),
    SessionStatus.TREATING: Badge("Treating now", "active", "▶"),
    SessionStatus.PAUSED: Badge("Paused", "active", "Ⅱ"),
    SessionStatus.COMPLETED: Badge("Completed", "ok", "✓"),
    SessionStatus.STOPPED: Badge("Stopped before the end", "caution", "■"),
    SessionStatus.INTERRUPTED: Badge("Interrupted: the device was lost", "caution", "!"),
    SessionStatus.REJECTED: Badge("Refused by the device", "muted", "✕"),
}


@dataclass(frozen=True)
class Limit:
    """One thing that limits treatment now, in words, with a tone and symbol as a badge has."""

    title: str
    detail: str
    tone: str
    symbol: str


@dataclass(frozen=True)
class Banner:
    badge: Badge
    summary: str
    limits: list[Limit]  # the reasons, for the roles that may read them


@dataclass(frozen=True)
class ScreeningRow:
    judged: Judged
    badge: Badge
    in_force: bool
    limits: list[Limit]  # empty for the roles that see outcomes only


@dataclass(frozen=True)
class ApprovalRow:
    approval: PhysicianApproval
    scope: str
    state: Badge
    revocable: bool


@dataclass(frozen=True)
class AppointmentRow:
    appointment: Appointment
    start: datetime  # in the clinic's time zone
    end: datetime
    room: str
    badge: Badge


@dataclass(frozen=True)
class SeriesBlock:
    id: uuid.UUID
    protocol: str
    esthetician: str
    room: str
    appointments: list[AppointmentRow]
    counts: str
    ongoing: bool  # something still booked: shown open


@dataclass(frozen=True)
class TreatmentRow:
    treatment: client_history.Treatment
    start: datetime
    what: str
    badge: Badge

    @property
    def output(self) -> str:
        minutes, seconds = divmod(round(self.treatment.output_s), 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"

    @property
    def charge(self) -> str:
        charge = self.treatment.charge_uc
        return f"{charge:,.0f} µC" if charge >= 100 else f"{charge:.1f} µC"

    @property
    def peak(self) -> str:
        peak = self.treatment.peak_ua
        return "—" if peak is None else f"{peak:,.0f} µA"


@dataclass(frozen=True)
class ClientPage:
    client: Client
    age: int
    registered: date  # in the clinic's time zone
    can: dict[str, bool]
    banner: Banner | None
    screenings: list[ScreeningRow]
    approvals: list[ApprovalRow] | None  # None: the role may not read them
    series: list[SeriesBlock]
    treatments: list[TreatmentRow] | None
    timezone: str


def abilities(actor: Actor) -> dict[str, bool]:
    """What the actor's role may do here, by the permission table."""
    return {name: allows(actor.user.role, permission) for name, permission in ABILITIES.items()}


def read_page(
    session: Session, *, actor: Actor, client_id: uuid.UUID, clinic: ClinicSettings, today: date
) -> ClientPage:
    """Everything the client's page shows, each part read (and audited) by the service the API reads it with."""
    can = abilities(actor)
    client = clients.read(session, actor=actor, client_id=client_id)
    judged = screenings.list_for(
        session, actor=actor, client_id=client_id, today=today, with_answers=can["read_reasons"]
    )
    found = approvals.list_for(session, actor=actor, client_id=client_id) if can["read_approvals"] else None
    in_force = {a.scope: a for a in reversed(found or []) if a.valid_on(today)}  # the latest recorded of a scope
    banner = None
    if can["check_eligibility"]:
        eligibility = screenings.check_eligibility(
            session, actor=actor, client_id=client_id, on=today, day_of=DayOfAnswers(), today=today
        )
        banner = _banner(eligibility, judged, in_force, reasons=can["read_reasons"])
    zone = ZoneInfo(clinic.timezone)
    found_series = series.list_series(session, client_id=client_id)
    found_treatments = (
        client_history.treatments(session, actor=actor, client_id=client_id) if can["read_sessions"] else None
    )
    names = client_history.protocol_names(
        session,
        protocol_ids={s.protocol_id for s, _ in found_series} | {t.protocol_id for t in found_treatments or []},
    )
    return ClientPage(
        client=client,
        age=age_on(client.date_of_birth, today),
        registered=client.created_at.astimezone(zone).date(),
        can=can,
        banner=banner,
        screenings=[_screening_row(j, in_force, reasons=can["read_reasons"], today=today) for j in judged],
        approvals=None if found is None else [_approval_row(a, today, zone, can["revoke_approval"]) for a in found],
        series=_series(session, found_series, names, zone=zone),
        treatments=None if found_treatments is None else [_treatment_row(t, names, zone) for t in found_treatments],
        timezone=clinic.timezone,
    )


def _banner(
    eligibility: Eligibility, judged: list[Judged], in_force: dict[ApprovalScope, PhysicianApproval], *, reasons: bool
) -> Banner:
    """What limits treatment today, as the eligibility check judges it (no day-of answers yet)."""
    if eligibility.verdict is None:
        if not judged:
            return Banner(Badge("Never screened", "caution", "?"), "Screen the client before the first session.", [])
        last = judged[0].screening
        return Banner(
            screening_badge(eligibility),
            f"The last screening, on {short(last.screened_on)}, was valid until {short(last.valid_until)}.",
            [],
        )
    screening = next(j.screening for j in judged if j.screening.id == eligibility.screening_id)
    summary = f"Screened on {short(screening.screened_on)}; valid until {short(screening.valid_until)}."
    limits = [_limit(r, in_force) for r in eligibility.verdict.reasons] if reasons else []
    return Banner(screening_badge(eligibility), summary, limits)


def _limit(reason: Reason, in_force: dict[ApprovalScope, PhysicianApproval]) -> Limit:
    """A reason in a staff member's words: the rule, and what it means for treatment now."""
    until = f" until {short(reason.until)}" if reason.until else ""
    if reason.kind == Kind.CONTRAINDICATION:
        return Limit(reason.rule, "Do not treat.", "stop", "✕")
    if reason.kind == Kind.APPROVAL_REQUIRED:
        approval = in_force.get(reason.approval_scope) if reason.approval_scope else None
        if reason.approved_by:
            expiry = f", valid until {short(approval.valid_until)}" if approval else ""
            return Limit(reason.rule, f"Approved by {reason.approved_by}{expiry}.", "ok", "✓")
        return Limit(
            reason.rule, "No physician's approval is on file: do not treat until one is recorded.", "stop", "!"
        )
    if reason.kind == Kind.DEFERRAL:
        detail = f"Not before {short(reason.until)}." if reason.until else "Not until it has healed: screen again then."
        return Limit(reason.rule, detail, "caution", "◷")
    zones = [z.value for z in reason.zones]
    listed = zones[0] if len(zones) == 1 else f"{', '.join(zones[:-1])} and {zones[-1]}"
    return Limit(reason.rule, f"Do not work on the {listed}{until}.", "caution", "⊘")


def _screening_row(
    judged: Judged, in_force: dict[ApprovalScope, PhysicianApproval], *, reasons: bool, today: date
) -> ScreeningRow:
    s = judged.screening
    as_of_today = Eligibility(on=today, verdict=judged.verdict, screening_id=s.id, rule_set_version=s.rule_set_version)
    return ScreeningRow(
        judged=judged,
        badge=screening_badge(as_of_today),
        in_force=s.screened_on <= today <= s.valid_until,
        limits=[_limit(r, in_force) for r in judged.verdict.reasons] if reasons else [],
    )


def _approval_row(approval: PhysicianApproval, today: date, zone: ZoneInfo, may_revoke: bool) -> ApprovalRow:
    if approval.revoked_at is not None:
        state = Badge(f"Revoked on {short(approval.revoked_at.astimezone(zone).date())}", "muted", "–")
    elif approval.valid_until < today:
        state = Badge(f"Expired on {short(approval.valid_until)}", "muted", "–")
    elif approval.approved_on > today:
        state = Badge(f"From {short(approval.approved_on)}", "caution", "…")
    else:
        state = Badge(f"In force until {short(approval.valid_until)}", "ok", "✓")
    revocable = may_revoke and approval.revoked_at is None and approval.valid_until >= today
    return ApprovalRow(approval, SCOPE_WORDS[approval.scope], state, revocable)


def _series(
    session: Session,
    found: list[tuple[Series, list[Appointment]]],
    names: dict[uuid.UUID, str],
    *,
    zone: ZoneInfo,
) -> list[SeriesBlock]:
    """The client's series, newest first, each with its appointments in the clinic's time."""
    staff = {u.id: u.full_name for u in users.list_all(session)}
    room_names = {r.id: r.name for r in rooms.list_rooms(session)}
    blocks = []
    for booked, appointments in found:
        rows = [
            AppointmentRow(
                a,
                a.start_at.astimezone(zone),
                a.end_at.astimezone(zone),
                room_names.get(a.room_id, "?"),
                APPOINTMENT_BADGES[a.status],
            )
            for a in appointments
        ]
        blocks.append(
            SeriesBlock(
                id=booked.id,
                protocol=names.get(booked.protocol_id, "?"),
                esthetician=staff.get(booked.esthetician_id, "?"),
                room=room_names.get(booked.room_id, "?") if booked.room_id else "any room with a free device",
                appointments=rows,
                counts=_counts(appointments),
                ongoing=any(a.status == AppointmentStatus.BOOKED for a in appointments),
            )
        )
    return blocks


def _counts(appointments: list[Appointment]) -> str:
    by_status = [sum(a.status == status for a in appointments) for status in APPOINTMENT_BADGES]
    words = [f"{n} {badge.words.lower()}" for n, badge in zip(by_status, APPOINTMENT_BADGES.values(), strict=True) if n]
    return f"{len(appointments)} session{'s' if len(appointments) != 1 else ''}: " + ", ".join(words)


def _treatment_row(treatment: client_history.Treatment, names: dict[uuid.UUID, str], zone: ZoneInfo) -> TreatmentRow:
    what = f"{names.get(treatment.protocol_id, '?')}, session {treatment.sequence}"
    return TreatmentRow(treatment, treatment.start_at.astimezone(zone), what, SESSION_BADGES[treatment.status])
