"""The live room over a real HTTP connection: state changes and samples arrive as Server-Sent Events."""

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from db.migrate import upgrade
from db.models import Device, Role, SessionMessage, SessionStatus, TreatmentSession
from db.session import make_engine, make_session_factory, transaction
from db.settings import Settings
from tests.api.clinic import add_room, approved_protocol, due, new_client
from tests.conftest import SECRET_KEY, add_user, bearer
from tests.mqtt import wait_for_port
from tests.services import free_port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict, object]]:
    """The app under uvicorn on a free port, over a SQLite file that really commits."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    app = create_app(Settings(data_dir=tmp_path, database_url=url, secret_key=SECRET_KEY, mqtt_url=None), factory)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}", app, factory
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def read_events(lines: Iterator[str], wanted: str) -> dict:
    """The data of the next event of kind `wanted`."""
    kind = None
    for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind == wanted:
            return json.loads(line.removeprefix("data: "))  # type: ignore[no-any-return]
    raise AssertionError(f"the stream ended before a {wanted} event")


def test_state_and_samples_stream_as_they_are_written(served: tuple) -> None:
    base, app, factory = served
    with transaction(factory) as session:
        headers = {role: bearer(add_user(session, role)) for role in Role}
        esthetician = add_user(session, Role.ESTHETICIAN)
    with TestClient(app) as http:
        room = add_room(http, headers[Role.ADMIN])
        protocol = approved_protocol(http, headers)
        client_id = new_client(http, headers[Role.FRONT_DESK])
    with transaction(factory) as session:
        appointment = due(
            session, client_id=client_id, protocol_id=protocol["id"], room_id=room, esthetician=esthetician
        )
        device = session.scalar(select(Device).where(Device.room_id == uuid.UUID(room)))
        assert device is not None
        treatment = TreatmentSession(
            appointment_id=appointment,
            device_id=device.id,
            protocol_id=uuid.UUID(protocol["id"]),
            status=SessionStatus.TREATING,
            steps=protocol["steps"],
            max_current_ua=220,
            max_output_s=330,
            tolerance_percent=10,
            day_of={},
            created_by_id=esthetician.id,
        )
        session.add(treatment)
        device_row = device.id
    url = f"{base}/api/v1/devices/{device_row}/live"
    with httpx.stream("GET", url, headers=headers[Role.FRONT_DESK], timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert read_events(lines, "state") == {"state": "offline"}
        with transaction(factory) as session:
            session.get(Device, device_row).state = "treating"  # type: ignore[union-attr]
            session.add(
                SessionMessage(
                    device_id=device_row,
                    session_id=treatment.id,
                    seq=1,
                    kind="telemetry",
                    step=0,
                    t_ms=1000,
                    interval_ms=100,
                    samples=[200.0, 201.5],
                    contact=True,
                )
            )
        assert read_events(lines, "state") == {"state": "treating"}
        sample = read_events(lines, "telemetry")
        assert (sample["seq"], sample["current_ua"], sample["session_id"]) == (1, [200.0, 201.5], str(treatment.id))


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_role_may_watch_a_room(served: tuple, role: Role) -> None:
    base, app, factory = served
    with transaction(factory) as session:
        admin, watcher = bearer(add_user(session, Role.ADMIN)), bearer(add_user(session, role))
    with TestClient(app) as http:
        room = add_room(http, admin)
        [device] = http.get("/api/v1/devices", headers=admin, params={"room_id": room}).json()
    with httpx.stream("GET", f"{base}/api/v1/devices/{device['id']}/live", headers=watcher, timeout=10) as response:
        assert response.status_code == 200
        assert read_events(response.iter_lines(), "state") == {"state": "offline"}


def test_the_live_room_needs_a_token_and_a_real_device(served: tuple) -> None:
    base, _app, factory = served
    with transaction(factory) as session:
        headers = bearer(add_user(session, Role.FRONT_DESK))
    assert httpx.get(f"{base}/api/v1/devices/{uuid.uuid4()}/live", timeout=5).status_code == 401
    assert httpx.get(f"{base}/api/v1/devices/{uuid.uuid4()}/live", headers=headers, timeout=5).status_code == 404
