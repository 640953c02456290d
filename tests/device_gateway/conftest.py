"""Shared setup: a session waiting for its device (`armed`), and end to end (`clinic`): a real Mosquitto, a
committed database, the gateway, the API, one room's device."""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from db.models import CommandStatus, Device, DeviceCommand, Role, SessionMessage, SessionStatus, TreatmentSession, User
from db.models.gateway import gateway_present
from db.outbox import queue_command
from db.session import make_engine, make_session_factory, transaction
from db.settings import Settings
from device_gateway import topics
from device_gateway.broker_url import BrokerAddress
from device_gateway.embedded_broker import EmbeddedBroker
from device_gateway.gateway import Gateway
from device_gateway.simulator import SimulatedDevice
from tests.api.clinic import DAY_OF, STEP, add_room, approved_protocol, at, due, new_client, next_monday, ok
from tests.conftest import SECRET_KEY, add_user, bearer
from tests.factories import NOTHING
from tests.mqtt import WAIT_S, PersistentMosquitto, Subscriber, private_mosquitto
from tests.services import BACKENDS, free_port, migrated_database

SPEED = 100.0  # simulated seconds per real second
STEPS = [STEP | {"duration_s": 20}, STEP | {"zone": "jawline", "current_ua": 150, "duration_s": 10}]


@dataclass
class Armed:
    mqtt_id: str
    device: Device
    treatment: TreatmentSession
    load: DeviceCommand


@pytest.fixture
def armed(client: TestClient, as_role: dict, staff: dict[Role, User], db: Session) -> Armed:
    """A booked appointment with a session waiting for its device (200 µA for 300 s, 10% tolerance)."""
    room = add_room(client, as_role[Role.ADMIN])
    protocol = approved_protocol(client, as_role)
    series = ok(
        client.post(
            "/api/v1/series",
            headers=as_role[Role.FRONT_DESK],
            json={
                "client_id": new_client(client, as_role[Role.FRONT_DESK]),
                "protocol_id": protocol["id"],
                "esthetician_id": str(staff[Role.ESTHETICIAN].id),
                "room_id": room,
                "start_at": at(next_monday(), 10),
                "plan": {"intensive": {"sessions": 1, "per_week": 1}},
            },
        ),
        201,
    )
    appointment = series["appointments"][0]
    device = db.get(Device, uuid.UUID(appointment["device_id"]))
    assert device is not None
    treatment = TreatmentSession(
        appointment_id=uuid.UUID(appointment["id"]),
        device_id=device.id,
        protocol_id=uuid.UUID(protocol["id"]),
        status=SessionStatus.PENDING,
        steps=protocol["steps"],
        max_current_ua=220,
        max_output_s=330,
        tolerance_percent=10,
        day_of={},
        created_by_id=staff[Role.ESTHETICIAN].id,
    )
    db.add(treatment)
    db.flush()
    load = queue_command(
        db, device_id=device.id, session_id=treatment.id, kind="load_protocol", body={}, lifetime=timedelta(minutes=2)
    )
    load.status = CommandStatus.SENT
    db.commit()
    return Armed(device.device_id, device, treatment, load)


def gateway_is_present(factory: sessionmaker[Session]) -> bool:
    with factory() as session:  # a new transaction each time: an open one would not see the gateway's write
        return gateway_present(session)


def eventually(check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Poll the database until `check` gives a truthy value: it has no event to await."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError("the expected state never came")
        time.sleep(0.02)
    return result


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with migrated_database(request.param, tmp_path) as url:
        yield url


@dataclass
class RealClinic:
    """End to end: the API, the gateway and a broker running on a committed database, with one room's device
    (`mqtt_id`) and an appointment due in it."""

    http: TestClient
    factory: sessionmaker[Session]
    port: int
    gateway: Gateway
    headers: dict[Role, dict[str, str]]
    mqtt_id: str
    appointment: uuid.UUID
    esthetician_id: uuid.UUID

    def device(self, speed: float = SPEED, **switches: Any) -> SimulatedDevice:
        device = SimulatedDevice(self.mqtt_id, port=self.port, speed=speed, **switches)
        device.start()
        eventually(lambda: self.device_state() == "idle")  # the gateway has heard it
        return device

    def stored_messages(self, session_id: str) -> int:
        """How many of the session's messages the gateway has stored."""
        with self.factory() as session:
            count = session.scalar(
                select(func.count())
                .select_from(SessionMessage)
                .where(SessionMessage.session_id == uuid.UUID(session_id))
            )
            return int(count or 0)

    def device_state(self) -> str:
        with self.factory() as session:
            return str(session.scalar(select(Device.state).where(Device.device_id == self.mqtt_id)))

    def start(self, status: int = 201, **day_of: Any) -> Any:
        return ok(
            self.http.post(
                f"/api/v1/appointments/{self.appointment}/start",
                headers=self.headers[Role.ESTHETICIAN],
                json={"day_of": DAY_OF | day_of},
            ),
            status,
        )

    def run_session(self, device: SimulatedDevice, outcome: str) -> tuple[str, dict[str, Any]]:
        """Start a session, press start on the device once it is armed, wait for the session's outcome."""
        started = self.start()
        eventually(lambda: device.state == "armed")
        device.press_start()
        return started["session_id"], self.session(started["session_id"], outcome)

    def session(self, session_id: str, status: str, timeout: float = WAIT_S) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            record = ok(self.http.get(f"/api/v1/sessions/{session_id}", headers=self.headers[Role.ESTHETICIAN]))
            return record if record["status"] == status else None

        return eventually(reached, timeout)  # type: ignore[no-any-return]


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """Mosquitto unless a test asks for the embedded or a restartable one (indirect parametrization)."""
    kind = getattr(request, "param", "mosquitto")
    if kind == "persistent":
        mosquitto = PersistentMosquitto(tmp_path)
        mosquitto.start()
        request.node.mosquitto = mosquitto  # the test restarts it
        try:
            yield mosquitto.port
        finally:
            mosquitto.stop()
        return
    if kind == "embedded":
        embedded = EmbeddedBroker(port=free_port())
        embedded.start()
        try:
            yield embedded.port
        finally:
            embedded.stop()
        return
    with private_mosquitto(tmp_path) as port:
        yield port


@pytest.fixture
def clinic(database: str, broker: int, tmp_path: Path) -> Iterator[RealClinic]:
    engine = make_engine(database)
    factory = make_session_factory(engine)
    settings = Settings(
        data_dir=tmp_path, database_url=database, secret_key=SECRET_KEY, mqtt_url=None, clinic_timezone="UTC"
    )
    port = broker
    with TestClient(create_app(settings, factory)) as http:
        with transaction(factory) as session:
            headers = {role: bearer(add_user(session, role)) for role in Role}
            esthetician = add_user(session, Role.ESTHETICIAN)
        room = add_room(http, headers[Role.ADMIN])
        protocol = approved_protocol(http, headers, steps=STEPS)
        client_id = new_client(http, headers[Role.FRONT_DESK])
        ok(
            http.post(
                f"/api/v1/clients/{client_id}/screenings", headers=headers[Role.ESTHETICIAN], json={"answers": NOTHING}
            ),
            201,
        )
        with transaction(factory) as session:
            appointment = due(
                session, client_id=client_id, protocol_id=protocol["id"], room_id=room, esthetician=esthetician
            )
            mqtt_id = session.scalar(select(Device.device_id).where(Device.room_id == uuid.UUID(room)))
        gateway = Gateway(
            BrokerAddress("127.0.0.1", port), session_factory=factory, client_id=f"gateway-{uuid.uuid4().hex[:6]}"
        )
        gateway.start()
        eventually(lambda: gateway_is_present(factory))  # the API arms no device until the gateway says so
        try:
            yield RealClinic(http, factory, port, gateway, headers, str(mqtt_id), appointment, esthetician.id)
        finally:
            gateway.stop()
            assert gateway.counters["errors"] == 0  # a handler's exception fails the test
    engine.dispose()


@dataclass
class Wire:
    """What crosses the broker for one device: its telemetry and its commands, as received, with their times."""

    subscriber: Subscriber
    mqtt_id: str

    def next_over(self, cap_ua: float) -> mqtt.MQTTMessage:
        """The first telemetry block with a sample above the cap."""
        while True:
            message = self.subscriber.messages.get(timeout=WAIT_S)
            samples = json.loads(message.payload)["current_ua"] if message.topic.endswith("/telemetry") else [0]
            if max(map(abs, samples)) > cap_ua:
                return message

    def next_command(self, kind: str, timeout: float = WAIT_S) -> tuple[mqtt.MQTTMessage, dict[str, Any]]:
        while True:
            message = self.subscriber.messages.get(timeout=timeout)
            body = json.loads(message.payload)
            if message.topic.endswith("/commands") and body["type"] == kind:
                return message, body


@pytest.fixture
def wire(clinic: RealClinic) -> Iterator[Wire]:
    subscriber = Subscriber(
        clinic.port, topics.device_topic(clinic.mqtt_id, "telemetry"), topics.device_topic(clinic.mqtt_id, "commands")
    )
    try:
        yield Wire(subscriber, clinic.mqtt_id)
    finally:
        subscriber.close()


def treating(clinic: RealClinic, device: SimulatedDevice) -> str:
    """Start a session in real time (30 s of output) and return once the device treats and was watched."""
    started = clinic.start()
    eventually(lambda: device.state == "armed")
    clinic.session(started["session_id"], "armed")  # the gateway stored the answer: it guards the session
    device.press_start()
    eventually(lambda: device.state == "treating")
    return str(started["session_id"])
