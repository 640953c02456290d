"""First-start chores: the first admin, the clinic's time zone and opening hours and, on request, demo data."""

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.services import clinic_settings, users
from db.models import Client, Role
from db.models.client import client_search_text
from db.session import transaction
from db.settings import Settings
from db.weekly_hours import WeeklyHours

DEFAULT_ADMIN_EMAIL = "admin@galvani.local"


@dataclass(frozen=True)
class NewAccount:
    email: str
    role: Role
    password: str | None  # set only when it was generated and must be shown once


@dataclass(frozen=True)
class AdminNeeded:
    """No account yet, and none was made: production never makes up a password, since it would be printed
    where the service's log goes. `how` says how to make the first admin."""

    email: str

    @property
    def how(self) -> str:
        return (
            f"No staff account exists yet, and GALVANI_ADMIN_PASSWORD is not set: in production no password is "
            f"made up (it would land in this log). Make the first admin, typing its password when asked:\n"
            f"  docker compose run --rm api galvani create-user --role admin --email {self.email} "
            f"--full-name Administrator\n"
            f"(or give the password on standard input with --password-stdin), or set GALVANI_ADMIN_PASSWORD "
            f"and start again."
        )


def ensure_first_admin(factory: sessionmaker[Session], settings: Settings) -> NewAccount | AdminNeeded | None:
    """Create the first admin when there is no user at all; None when users exist.

    Without GALVANI_ADMIN_PASSWORD, development makes one up (shown once on the terminal) and production
    makes no account (AdminNeeded)."""
    with transaction(factory) as session:
        if users.count(session):
            return None
        email = settings.admin_email or DEFAULT_ADMIN_EMAIL
        given = settings.admin_password.get_secret_value() if settings.admin_password else None
        if not given and settings.env == "production":
            return AdminNeeded(email=email)
        password = given or secrets.token_urlsafe(12)
        users.add(session, email=email, password=password, full_name="Administrator", role=Role.ADMIN)
        return NewAccount(email=email, role=Role.ADMIN, password=None if given else password)


ASK_AN_ADMIN = (
    "The clinic's time zone and opening hours are not confirmed yet (GALVANI_CLINIC_TIMEZONE and "
    "GALVANI_OPENING_HOURS were not both given, and no admin has saved them): the first admin to sign in to the "
    "staff pages is asked for them at /settings. Until then the clinic's times are in {zone}."
)


def ensure_clinic_settings(factory: sessionmaker[Session], settings: Settings, *, demo: bool = False) -> str | None:
    """Store the time zone and opening hours given in the environment, when the clinic has no settings yet; never
    over settings already saved. The demo clinic counts as confirmed, in GALVANI_CLINIC_TIMEZONE or UTC.

    Returns a line for the terminal when the clinic still has to be asked, or what was stored."""
    changes: dict[str, Any] = {}
    if settings.clinic_timezone_given or demo:
        changes["timezone"] = settings.clinic_timezone
    if (hours := settings.weekly_hours) is not None:
        changes["opening_hours"] = opening_hours_document(hours)
    confirmed = demo or changes.keys() >= clinic_settings.CONFIRMING_FIELDS
    try:
        with transaction(factory) as session:
            made = (
                clinic_settings.set_at_first_start(
                    session, changes=changes, confirmed=confirmed, source="demo" if demo else "environment"
                )
                if changes
                else None
            )
            found = clinic_settings.stored(session, default_timezone=settings.clinic_timezone)
    except IntegrityError:  # another process starting at the same moment stored them first
        return None
    if not found.confirmed:
        return ASK_AN_ADMIN.format(zone=found.settings.timezone)
    if made is not None:
        return f"Clinic settings stored at first start: time zone {made.settings.timezone}."
    return None


def opening_hours_document(hours: WeeklyHours) -> dict[str, dict[str, str] | None]:
    """Opening hours read from the environment, as the settings document holds them."""
    return {
        day: None
        if opening is None
        else {"open": opening[0].isoformat("minutes"), "close": opening[1].isoformat("minutes")}
        for day, opening in hours.items()
    }


DEMO_STAFF = [
    ("frontdesk@galvani.local", "Fran Desk", Role.FRONT_DESK),
    ("esthetician@galvani.local", "Esme Thetic", Role.ESTHETICIAN),
    ("director@galvani.local", "Dr. Meda Rector", Role.MEDICAL_DIRECTOR),
]
DEMO_CLIENTS = [
    ("Ada", "Lovelace", date(1985, 12, 10), "ada@example.com", "+44 20 7946 0001"),
    ("Grace", "Hopper", date(1976, 12, 9), "grace@example.com", "+1 212 555 0102"),
    ("Marie", "Curie", date(1990, 11, 7), None, "+33 1 45 55 0103"),
    ("Rosalind", "Franklin", date(1982, 7, 25), "rosalind@example.com", None),
]


def seed_demo(factory: sessionmaker[Session]) -> list[NewAccount]:
    """Demo staff (one per role) and a few clients, once; returns the accounts made."""
    made: list[NewAccount] = []
    with transaction(factory) as session:
        for email, name, role in DEMO_STAFF:
            if users.get_by_email(session, email=email) is None:
                password = secrets.token_urlsafe(9)
                users.add(session, email=email, password=password, full_name=name, role=role)
                made.append(NewAccount(email=email, role=role, password=password))
        if not session.scalar(select(func.count()).select_from(Client)):
            for first, last, born, address, phone in DEMO_CLIENTS:
                session.add(
                    Client(
                        first_name=first,
                        last_name=last,
                        date_of_birth=born,
                        email=address,
                        phone=phone,
                        search_text=client_search_text(first_name=first, last_name=last, email=address, phone=phone),
                    )
                )
    return made
