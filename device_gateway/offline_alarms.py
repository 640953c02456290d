"""The alarm of a device offline while the clinic is open, kept by the active gateway's housekeeping: the gateway
hears the devices, so it is the one to notice that one is missing, whether or not anyone has a page open.

How it is decided (the README says the same):
- raised for a device in service whose state is offline (its Last Will, or never heard since it was registered)
  and that has not been heard for PATIENCE (nor registered, nor watched by this gateway for less), while the
  clinic is open by its settings (time zone, opening hours); it begins when the device was last heard (or
  registered), or when the clinic opened if that is later;
- ended when the device is heard again (at the moment it was heard), when it leaves service (now), or when the
  clinic closes (at closing time): it is a condition that clears by itself, so it needs no acknowledgement;
- swept only while the gateway is connected to the broker (the states are then current), and a device has at
  most one open at a time: the partial unique index refuses a second, so two gateways sweeping at once, or a
  sweep repeated after a failed commit, raise it once (db.alarms.raise_unless_open).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import Session

from db.alarms import raise_unless_open
from db.base import utcnow
from db.models import Alarm, Device, DeviceStatus
from db.opening_hours import OpeningHours, opening_hours

KIND = "device_offline"
# Longer than a device takes to reconnect after the broker restarts (it sends every device's Will as it stops), as
# the gateway's BROKER_OUTAGE_PATIENCE_S; a gateway that starts or takes over hears the devices within it too.
PATIENCE = timedelta(seconds=30)


@dataclass
class OfflineAlarms:
    """Sweeps the devices; lives in the gateway's worker thread, like the rest of its housekeeping."""

    default_timezone: str = "UTC"  # GALVANI_CLINIC_TIMEZONE: until an admin saves the clinic's settings
    patience: timedelta = PATIENCE
    sweeps: int = 0  # how many sweeps ran to their end (tests wait on it)
    watching_since: datetime | None = None  # the first sweep: a device is not missed before this gateway could hear it

    def sweep(self, session: Session, *, now: datetime | None = None) -> None:
        """Raise the alarm of each device missing in opening hours, and end those whose condition is over."""
        now = now or utcnow()
        self.watching_since = self.watching_since or now
        hours = opening_hours(session, default_timezone=self.default_timezone)
        opened = hours.opened_at(now)
        self._end_what_is_over(session, hours=hours, open_now=opened is not None, now=now)
        if opened is not None and now - self.watching_since >= self.patience:
            self._raise_for_missing(session, opened=opened, now=now, hours=hours)
        session.flush()
        self.sweeps += 1

    def _end_what_is_over(self, session: Session, *, hours: OpeningHours, open_now: bool, now: datetime) -> None:
        """End the open alarms whose device is back or out of service, or all of them once the clinic has closed.
        Only those are loaded: a sweep that finds nothing changed reads no row."""
        over = or_(Device.status != DeviceStatus.IN_SERVICE, Device.state != "offline")
        for alarm, device in session.execute(
            select(Alarm, Device)
            .join(Device, Device.id == Alarm.device_id)
            .where(Alarm.kind == KIND, Alarm.ended_at.is_(None), over if open_now else true())
        ):
            if device.status != DeviceStatus.IN_SERVICE:
                alarm.ended_at = now
            elif device.state != "offline":
                alarm.ended_at = max(alarm.began_at, device.last_seen_at or now)
            else:
                closed = hours.closes_at(alarm.began_at) or now
                alarm.ended_at = max(alarm.began_at, min(closed, now))

    def _raise_for_missing(self, session: Session, *, opened: datetime, now: datetime, hours: OpeningHours) -> None:
        heard_before = now - self.patience
        raised = select(Alarm.id).where(Alarm.device_id == Device.id, Alarm.kind == KIND, Alarm.ended_at.is_(None))
        missing = session.scalars(
            select(Device).where(
                Device.status == DeviceStatus.IN_SERVICE,
                Device.state == "offline",
                or_(
                    Device.last_seen_at <= heard_before,
                    and_(Device.last_seen_at.is_(None), Device.created_at <= heard_before),
                ),
                ~raised.exists(),
            )
        )
        for device in missing:
            raise_unless_open(
                session,
                device_id=device.id,
                kind=KIND,
                detail=f"the device is off or out of reach while the clinic is open "
                f"({_last_heard(device.last_seen_at, now=now, hours=hours)})",
                began_at=max(device.last_seen_at or device.created_at, opened),
            )


def _last_heard(seen: datetime | None, *, now: datetime, hours: OpeningHours) -> str:
    """When the device was last heard, in the clinic's time: the time alone today, with the day before."""
    if seen is None:
        return "never heard from"
    local = seen.astimezone(hours.zone)
    day = "" if local.date() == now.astimezone(hours.zone).date() else f" on {local.day} {local:%B}"
    return f"not heard since {local:%H:%M}{day}"
