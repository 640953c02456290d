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


_CLINICAL_STAFF = {
    Permission.USERS_READ,
    Permission.CLIENTS_READ,
    Permission.CLIENTS_WRITE,
    Permission.SETTINGS_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MEDICAL_DIRECTOR: frozenset(_CLINICAL_STAFF),
    Role.ESTHETICIAN: frozenset(_CLINICAL_STAFF),
    # The front desk registers clients, so it also removes duplicate registrations.
    Role.FRONT_DESK: frozenset(_CLINICAL_STAFF | {Permission.CLIENTS_DELETE}),
}

DENIED_MESSAGES = {
    Permission.USERS_MANAGE: "Only an admin can create or change staff accounts.",
    Permission.AUDIT_READ: "Only an admin can read the audit trail.",
    Permission.SETTINGS_WRITE: "Only an admin can change the clinic's settings.",
    Permission.CLIENTS_DELETE: "Only the front desk or an admin can delete a client record.",
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def denied_message(permission: Permission) -> str:
    return DENIED_MESSAGES.get(permission, "Your role does not allow this.")
