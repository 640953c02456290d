"""The demo clinic of `galvani serve --demo`: rooms with devices, an approved protocol, simulated devices."""

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.schemas.clinic_settings import ClinicSettings
from api.schemas.protocols import Step
from api.schemas.screening_rules import RuleParameters
from api.services import protocols
from db.base import utcnow
from db.broker_passwords import hash_device_password, new_device_password
from db.models import (
    Appointment,
    AppointmentStatus,
    Client,
    Device,
    DeviceStatus,
    Protocol,
    ProtocolStatus,
    Role,
    Room,
    Series,
    User,
)
from db.session import transaction
from device_gateway.simulator import CONNECT_TIMEOUT_S, Simulator

logger = logging.getLogger(__name__)
DEMO_ROOMS = ("Rose room", "Sage room")
PRESS_START_AFTER_S = 5.0  # what an esthetician takes to place the probes once the device is armed
DEMO_STEPS = [
    Step(
        zone="forehead",
        mode="LIFT",
        current_ua=150,
        frequency_hz=30,
        waveform="square",
        polarity="alternating",
        duration_s=60,
    ),
    Step(
        zone="cheeks",
        mode="TIGHTEN",
        current_ua=200,
        frequency_hz=10,
        waveform="square",
        polarity="alternating",
        duration_s=120,
    ),
    Step(
        zone="jawline",
        mode="LIFT",
        current_ua=200,
        frequency_hz=30,
        waveform="sine",
        polarity="alternating",
        duration_s=60,
    ),
]


def seed_demo_devices(factory: sessionmaker[Session]) -> list[str]:
    """Demo rooms, each with a device, and an approved protocol, once; returns the devices' MQTT ids."""
    protocols.check_limits(DEMO_STEPS, clinic=ClinicSettings(), rules=RuleParameters())
    with transaction(factory) as session:
        for index, name in enumerate(DEMO_ROOMS, start=1):
            if session.scalar(select(Room.id).where(Room.name == name)) is None:
                room = Room(name=name)
                session.add(room)
                session.flush()
                session.add(
                    Device(
                        device_id=f"gd-demo{index}",
                        serial=f"DEMO-{index:03d}",
                        room_id=room.id,
                        probe_area_cm2=0.5,
                        mqtt_password_hash=hash_device_password(new_device_password()),
                        status=DeviceStatus.IN_SERVICE,
                    )
                )
        if session.scalar(select(Protocol.id).where(Protocol.name == "Demo lift and tone")) is None:
            director = session.scalar(select(User).where(User.role == Role.MEDICAL_DIRECTOR).limit(1))
            if director is not None:
                draft = Protocol(
                    lineage_id=uuid.uuid4(),
                    version=1,
                    name="Demo lift and tone",
                    target={"areas": ["forehead", "cheeks", "jawline"], "goal": "lift"},
                    status=ProtocolStatus.APPROVED,
                    created_by_id=director.id,
                    approved_by_id=director.id,
                    approved_at=utcnow(),
                    steps=protocols.canonical_steps(DEMO_STEPS),
                    total_output_s=sum(s.duration_s for s in DEMO_STEPS),
                    max_current_ua=max(s.current_ua for s in DEMO_STEPS),
                )
                draft.sha256 = protocols.steps_sha256(draft.steps)
                session.add(draft)
        return list(session.scalars(select(Device.device_id).where(Device.device_id.like("gd-demo%"))))


class StaffedDevices:
    """Simulated devices on the broker; each presses start a few seconds after being armed, as staff would."""

    def __init__(
        self,
        device_ids: Iterable[str],
        host: str,
        port: int,
        passwords: Mapping[str, str] | None = None,
        **switches: Any,
    ) -> None:
        """`passwords`: each device's broker password (device_id -> password); the embedded broker asks for none."""
        passwords = passwords or {}
        self.simulator = Simulator(
            [(device_id, passwords.get(device_id)) for device_id in device_ids], host=host, port=port, **switches
        )
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._press_start_when_armed, name="demo-staff", daemon=True)

    def start(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Bring every device online; when one does not come online in time, switch them all off and raise."""
        try:
            self.simulator.start(timeout)
        except TimeoutError:
            self.simulator.stop()
            raise
        self._watcher.start()
        logger.info("demo devices online: %s", ", ".join(self.simulator.devices))

    def stop(self) -> None:
        self._stopping.set()
        self._watcher.join(timeout=5)
        self.simulator.stop()

    def _press_start_when_armed(self) -> None:
        armed_since: dict[str, float] = {}
        while not self._stopping.wait(0.5):
            for device_id, device in self.simulator.devices.items():
                if device.state != "armed":
                    armed_since.pop(device_id, None)
                    continue
                waited = armed_since.setdefault(device_id, 0.0) + 0.5
                armed_since[device_id] = waited
                if waited >= PRESS_START_AFTER_S:
                    device.press_start()
                    armed_since.pop(device_id)


def seed_demo_appointment(factory: sessionmaker[Session]) -> Appointment | None:
    """A screened demo client booked in Rose room ten minutes from now, so a session can start at once."""
    from api.actor import Actor, Origin  # composition root: the demo goes through the API's services
    from api.schemas.screening import ScreeningAnswers
    from api.services import screenings

    with transaction(factory) as session:
        client = session.scalar(select(Client).where(Client.email == "ada@example.com", Client.deleted_at.is_(None)))
        esthetician = session.scalar(select(User).where(User.role == Role.ESTHETICIAN).order_by(User.created_at))
        protocol = session.scalar(select(Protocol).where(Protocol.name == "Demo lift and tone"))
        device = session.scalar(select(Device).where(Device.device_id == "gd-demo1"))
        if client is None or esthetician is None or protocol is None or device is None:
            return None
        now = utcnow()
        soon = session.scalar(
            select(Appointment).where(
                Appointment.client_id == client.id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.start_at > now - timedelta(minutes=20),
                Appointment.start_at < now + timedelta(hours=1),
            )
        )
        if soon is not None:
            return soon
        actor = Actor(esthetician, Origin("demo", None))
        screenings.create(
            session,
            actor=actor,
            client_id=client.id,
            today=now.date(),
            answers=ScreeningAnswers.model_validate(NO_CONTRAINDICATION),
        )
        series = Series(
            client_id=client.id,
            protocol_id=protocol.id,
            esthetician_id=esthetician.id,
            room_id=device.room_id,
            plan={"intensive": {"sessions": 1, "per_week": 1}},
            created_by_id=esthetician.id,
        )
        session.add(series)
        session.flush()
        start = now + timedelta(minutes=10)
        length = timedelta(minutes=-(-protocol.total_output_s // 60) + 30)
        appointment = Appointment(
            series_id=series.id,
            sequence=1,
            client_id=series.client_id,
            protocol_id=series.protocol_id,
            esthetician_id=series.esthetician_id,
            room_id=device.room_id,
            device_id=device.id,
            start_at=start,
            end_at=start + length,
            occupied_until=start + length,
            status=AppointmentStatus.BOOKED,
        )
        session.add(appointment)
        return appointment


NO_CONTRAINDICATION: dict[str, Any] = {
    "implanted_electronic_device": False,
    "epilepsy": False,
    "pregnant": False,
    "active_cancer": False,
    "skin_infection": False,
    "recent_facial_surgery": False,
    "body_worn_electronics": False,
    "retinol_last_used_on": None,
    "prescription_retinoid_last_used_on": None,
    "chemical_peel_last_on": None,
    "laser_last_on": None,
    "isotretinoin_last_on": None,
    "botox_last_on": None,
    "filler_last_on": None,
    "botox_zones": [],
    "filler_zones": [],
    "metal_implant_zones": [],
}
