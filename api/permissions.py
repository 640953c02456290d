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
# Those who stand at the device: the day-of answers are asked and current is started by clinical staff.
_TREATMENT = {Permission.SESSIONS_RUN}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Admins run the clinic's system, not its treatments: no approvals, no protocols of their own.
    Role.ADMIN: frozenset(Permission)
    - {
        Permission.APPROVALS_RECORD,
        Permission.APPROVALS_REVOKE,
        Permission.PROTOCOLS_DRAFT,
        Permission.PROTOCOLS_APPROVE,
        Permission.SESSIONS_RUN,
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
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def denied_message(permission: Permission) -> str:
    return DENIED_MESSAGES.get(permission, "Your role does not allow this.")
