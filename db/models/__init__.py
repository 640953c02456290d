"""All tables; importing this package registers them on Base.metadata."""

from db.lifecycle import SessionStatus
from db.models.alarm import Alarm, AlarmSeverity
from db.models.audit import AuditEvent
from db.models.booking import (
    Appointment,
    AppointmentStatus,
    Device,
    DeviceStatus,
    Protocol,
    ProtocolStatus,
    Room,
    Series,
)
from db.models.client import Client
from db.models.clinic_settings import ClinicSettingsRecord
from db.models.gateway import GatewayLease, GatewayPresence
from db.models.login_throttle import LoginThrottle
from db.models.screening import PhysicianApproval, Screening, ScreeningRuleSet
from db.models.treatment import (
    UNANSWERED,
    CommandStatus,
    DeviceCommand,
    SessionIncident,
    SessionMessage,
    TreatmentSession,
)
from db.models.user import Role, User

__all__ = [
    "Alarm",
    "AlarmSeverity",
    "UNANSWERED",
    "CommandStatus",
    "DeviceCommand",
    "SessionIncident",
    "SessionMessage",
    "SessionStatus",
    "TreatmentSession",
    "Appointment",
    "AppointmentStatus",
    "Device",
    "DeviceStatus",
    "Protocol",
    "ProtocolStatus",
    "Room",
    "Series",
    "AuditEvent",
    "Client",
    "ClinicSettingsRecord",
    "PhysicianApproval",
    "Role",
    "Screening",
    "ScreeningRuleSet",
    "User",
    "GatewayLease",
    "GatewayPresence",
    "LoginThrottle",
]
