"""Which role may do what: declared here, once, and tested as a matrix."""

from enum import StrEnum

from db.models import Role


class Permission(StrEnum):
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    CLIENTS_READ = "clients:read"
    CLIENTS_WRITE = "clients:write"
    CLIENTS_DELETE = "clients:delete"
    AUDIT_READ = "audit:read"
    SETTINGS_READ = "settings:read"
    SETTINGS_WRITE = "settings:write"
    SCREENINGS_WRITE = "screenings:write"
    SCREENING_OUTCOMES_READ = "screenings:read_outcomes"
    SCREENING_ANSWERS_READ = "screenings:read_answers"  # health data
    ELIGIBILITY_CHECK = "screenings:check_eligibility"
    APPROVALS_READ = "approvals:read"  # health data: an approval's scope says why
    APPROVALS_RECORD = "approvals:record"
    APPROVALS_REVOKE = "approvals:revoke"
    RULES_READ = "rules:read"
    RULES_WRITE = "rules:write"
    PROTOCOLS_READ = "protocols:read"
    PROTOCOLS_DRAFT = "protocols:draft"
    PROTOCOLS_APPROVE = "protocols:approve"  # and withdraw
    RESOURCES_READ = "resources:read"  # rooms and devices
    RESOURCES_MANAGE = "resources:manage"
    BOOKINGS_READ = "bookings:read"
    BOOKINGS_WRITE = "bookings:write"  # book, reschedule, cancel
    SESSIONS_READ = "sessions:read"
    SESSIONS_RUN = "sessions:run"  # start and stop current
    SESSIONS_SIGN_OFF = "sessions:sign_off"  # a finished session's record, which then can no longer change
    SESSIONS_AMEND = "sessions:amend"  # an addendum to a record: who and when kept, the original untouched
    ALARMS_ACKNOWLEDGE = "alarms:acknowledge"  # a device's alarm: who and when kept, the alarm stays in the history


_EVERY_ROLE = {
    Permission.USERS_READ,
    Permission.CLIENTS_READ,
    Permission.CLIENTS_WRITE,
    Permission.SETTINGS_READ,
    Permission.SCREENING_OUTCOMES_READ,
    Permission.ELIGIBILITY_CHECK,
    Permission.RULES_READ,
    Permission.PROTOCOLS_READ,
    Permission.RESOURCES_READ,
    Permission.BOOKINGS_READ,
    Permission.BOOKINGS_WRITE,
    Permission.SESSIONS_READ,
}
# Those who see health data: the screening answers and the approvals.
_HEALTH_DATA = {Permission.SCREENINGS_WRITE, Permission.SCREENING_ANSWERS_READ, Permission.APPROVALS_READ}
# Those who stand at the device: the day-of answers are asked and current is started by clinical staff. They add
# to a record what it lacks (the esthetician who saw the client at the next visit too); each addendum names its
# author, and nothing they write replaces what was recorded.
_TREATMENT = {Permission.SESSIONS_RUN, Permission.SESSIONS_AMEND, Permission.ALARMS_ACKNOWLEDGE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Admins run the clinic's system, not its treatments: no approvals, no protocols of their own.
    Role.ADMIN: frozenset(Permission)
    - {
        Permission.APPROVALS_RECORD,
        Permission.APPROVALS_REVOKE,
        Permission.PROTOCOLS_DRAFT,
        Permission.PROTOCOLS_APPROVE,
        Permission.SESSIONS_RUN,
        Permission.SESSIONS_SIGN_OFF,
        Permission.SESSIONS_AMEND,
        Permission.ALARMS_ACKNOWLEDGE,
    },
    Role.MEDICAL_DIRECTOR: frozenset(
        _EVERY_ROLE
        | _HEALTH_DATA
        | _TREATMENT
        | {
            Permission.APPROVALS_RECORD,
            Permission.APPROVALS_REVOKE,
            Permission.PROTOCOLS_DRAFT,
            Permission.PROTOCOLS_APPROVE,
            Permission.SESSIONS_SIGN_OFF,
        }
    ),
    Role.ESTHETICIAN: frozenset(
        _EVERY_ROLE | _HEALTH_DATA | _TREATMENT | {Permission.APPROVALS_RECORD, Permission.PROTOCOLS_DRAFT}
    ),
    # The front desk registers clients, so it also removes duplicate registrations; it never sees health data.
    Role.FRONT_DESK: frozenset(_EVERY_ROLE | {Permission.CLIENTS_DELETE}),
}

DENIED_MESSAGES = {
    Permission.USERS_MANAGE: "Only an admin can create or change staff accounts.",
    Permission.AUDIT_READ: "Only an admin can read the audit trail.",
    Permission.SETTINGS_WRITE: "Only an admin can change the clinic's settings.",
    Permission.CLIENTS_DELETE: "Only the front desk or an admin can delete a client record.",
    Permission.SCREENINGS_WRITE: "Only clinical staff can screen a client: the answers are health data.",
    Permission.APPROVALS_READ: "Physicians' approvals are health data, for clinical staff only.",
    Permission.APPROVALS_RECORD: "Only an esthetician or a medical director can record a physician's approval.",
    Permission.APPROVALS_REVOKE: "Only a medical director can revoke a physician's approval.",
    Permission.RULES_WRITE: "Only an admin can change the screening rules.",
    Permission.PROTOCOLS_DRAFT: "Only an esthetician or a medical director can write a protocol.",
    Permission.PROTOCOLS_APPROVE: "Only a medical director can approve or withdraw a protocol.",
    Permission.RESOURCES_MANAGE: "Only an admin can add or change rooms and devices.",
    Permission.SESSIONS_RUN: "Only an esthetician or a medical director can start or stop current.",
    Permission.SESSIONS_SIGN_OFF: "Only a medical director can sign off a session's record.",
    Permission.SESSIONS_AMEND: "Only an esthetician or a medical director can add an addendum to a session's record.",
    Permission.ALARMS_ACKNOWLEDGE: "Only an esthetician or a medical director can acknowledge a device's alarm.",
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def denied_message(permission: Permission) -> str:
    return DENIED_MESSAGES.get(permission, "Your role does not allow this.")
