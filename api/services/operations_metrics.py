"""What /metrics reads from the database at scrape time: the gateways' counters (each gateway writes them into its
presence row), the outbox, sessions by status, interlock stops and alarms. Whichever API worker answers a scrape
reads the same rows, so these need no sharing between workers. No label holds a client, a session or health data.
"""

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.alarms import KINDS, is_active
from db.base import utcnow
from db.lifecycle import SessionStatus
from db.models import CommandStatus, DeviceCommand, TreatmentSession
from db.models.alarm import Alarm
from db.models.gateway import GatewayPresence
from db.models.treatment import INTERLOCK_STOPS, SessionIncident

# A gateway's counters as it names them, and the outcome each is on /metrics; "received" is every message in.
MESSAGE_OUTCOMES = {"stored": "stored", "duplicates": "duplicate", "dropped": "dropped", "malformed": "malformed"}


def operations_metrics(session: Session) -> Iterator[Metric]:
    """Every metric read from the database, as of now."""
    now = utcnow()
    yield from _gateway_metrics(session, now)
    yield from _outbox_metrics(session, now)
    yield _sessions_by_status(session)
    yield _interlock_stops(session)
    yield from _alarms(session)


def _gateway_metrics(session: Session, now: datetime) -> Iterator[Metric]:
    received = CounterMetricFamily(
        "galvani_gateway_messages_received",
        "Device messages the gateway received since it started.",
        labels=["gateway"],
    )
    handled = CounterMetricFamily(
        "galvani_gateway_messages",
        "Device messages since the gateway started, by what became of them: stored, duplicate (stored before), "
        "dropped (not ours to store) or malformed.",
        labels=["gateway", "outcome"],
    )
    errors = CounterMetricFamily(
        "galvani_gateway_errors", "Unexpected errors in the gateway since it started.", labels=["gateway"]
    )
    active = GaugeMetricFamily("galvani_gateway_active", "1 while the gateway holds the lease.", labels=["gateway"])
    connected = GaugeMetricFamily(
        "galvani_gateway_connected", "1 while the gateway says it is connected to the broker.", labels=["gateway"]
    )
    silent = GaugeMetricFamily(
        "galvani_gateway_last_report_age_seconds",
        "Seconds since the gateway last wrote its presence (every 2 s while it runs).",
        labels=["gateway"],
    )
    for gateway in session.scalars(select(GatewayPresence).order_by(GatewayPresence.client_id)):
        counters, name = gateway.counters or {}, gateway.client_id
        received.add_metric([name], counters.get("received", 0))
        for counted, outcome in MESSAGE_OUTCOMES.items():
            handled.add_metric([name, outcome], counters.get(counted, 0))
        errors.add_metric([name], counters.get("errors", 0))
        active.add_metric([name], 1 if gateway.role == "active" else 0)
        connected.add_metric([name], 1 if gateway.connected else 0)
        silent.add_metric([name], max((now - gateway.seen_at).total_seconds(), 0.0))
    yield from (received, handled, errors, active, connected, silent)


def _outbox_metrics(session: Session, now: datetime) -> Iterator[Metric]:
    depth, oldest = session.execute(
        select(func.count(), func.min(DeviceCommand.created_at)).where(DeviceCommand.status == CommandStatus.QUEUED)
    ).one()
    yield GaugeMetricFamily("galvani_outbox_depth", "Device commands written and not yet sent.", value=depth)
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    yield GaugeMetricFamily(
        "galvani_outbox_oldest_age_seconds", "Age of the oldest command not yet sent; 0 when none waits.", value=age
    )


def _sessions_by_status(session: Session) -> Metric:
    counts = dict(
        session.execute(select(TreatmentSession.status, func.count()).group_by(TreatmentSession.status)).all()
    )
    family = GaugeMetricFamily("galvani_sessions", "Treatment sessions by status.", labels=["status"])
    for status in SessionStatus:
        family.add_metric([status.value], counts.get(status, 0))
    return family


def _interlock_stops(session: Session) -> Metric:
    counts = dict(
        session.execute(
            select(SessionIncident.kind, func.count())
            .where(SessionIncident.kind.in_(INTERLOCK_STOPS))
            .group_by(SessionIncident.kind)
        ).all()
    )
    family = CounterMetricFamily(
        "galvani_interlock_stops", "Sessions the interlock stopped, on record, by reason.", labels=["reason"]
    )
    for reason in INTERLOCK_STOPS:
        family.add_metric([reason], counts.get(reason, 0))
    return family


def _alarms(session: Session) -> Iterator[Metric]:
    by_kind = select(Alarm.kind, func.count()).group_by(Alarm.kind)
    raised = dict(session.execute(by_kind).all())
    still_active = dict(session.execute(by_kind.where(is_active())).all())
    open_family = GaugeMetricFamily(
        "galvani_alarms_active",
        "Alarms active now (not acknowledged), by kind and severity.",
        labels=["kind", "severity"],
    )
    raised_family = CounterMetricFamily(
        "galvani_alarms_raised", "Alarms raised, by kind and severity.", labels=["kind", "severity"]
    )
    for kind, described in KINDS.items():
        labels = [kind, described.severity.value]
        open_family.add_metric(labels, still_active.get(kind, 0))
        raised_family.add_metric(labels, raised.get(kind, 0))
    yield from (open_family, raised_family)
