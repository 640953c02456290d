"""The live room over a real HTTP connection: state changes and samples arrive as Server-Sent Events."""

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from db.migrate import upgrade
from db.models import Device, Role, SessionStatus, TreatmentSession
from db.session import make_engine, make_session_factory, transaction
from db.settings import Settings
from tests.api.clinic import add_room, approved_protocol, armed_session, due, new_client, telemetry_row
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
    return next(data for _id, kind, data in events(lines) if kind == wanted)


def events(lines: Iterator[str]) -> Iterator[tuple[int | None, str, dict]]:
    """Each event as it comes: its SSE id (None without one), its kind and its data."""
    event_id, kind = None, None
    for line in lines:
        if line.startswith("id: "):
            event_id = int(line.removeprefix("id: "))
        elif line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind is not None:
            yield event_id, kind, json.loads(line.removeprefix("data: "))
        elif line == "":
            event_id, kind = None, None
    raise AssertionError("the stream ended")


@dataclass(frozen=True)
class Treating:
    """A device whose session is treating, and a front desk user's headers to watch it."""

    url: str
    headers: dict[str, str]
    device_id: uuid.UUID
    session_id: uuid.UUID
    factory: Any

    def store(self, seq: int, samples: list[float]) -> int:
        """A telemetry block, as the gateway writes it; returns its message id."""
        with transaction(self.factory) as session:
            treatment = session.get_one(TreatmentSession, self.session_id)
            row = telemetry_row(treatment, seq, 0, samples)
            session.add(row)
            session.flush()
            return row.id


@pytest.fixture
def treating(served: tuple) -> Treating:
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
        treatment = session.get_one(TreatmentSession, uuid.UUID(armed_session(session, str(appointment))))
        treatment.status = SessionStatus.TREATING
        return Treating(base, headers[Role.FRONT_DESK], treatment.device_id, treatment.id, factory)


def test_state_and_samples_stream_as_they_are_written(treating: Treating) -> None:
    url = f"{treating.url}/api/v1/devices/{treating.device_id}/live"
    with httpx.stream("GET", url, headers=treating.headers, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert read_events(lines, "state") == {"state": "offline", "live": False}
        assert read_events(lines, "session") == {"session_id": str(treating.session_id), "status": "treating"}
        with transaction(treating.factory) as session:
            session.get_one(Device, treating.device_id).state = "treating"
        written = treating.store(1, [200.0, 201.5])
        assert read_events(lines, "state") == {"state": "treating", "live": False}
        sample_id, kind, sample = next(e for e in events(lines) if e[1] != "session")
        assert (sample_id, kind, sample["id"]) == (written, "telemetry", written)
        assert (sample["seq"], sample["current_ua"], sample["session_id"]) == (
            1,
            [200.0, 201.5],
            str(treating.session_id),
        )


def test_a_reconnect_catches_up_from_its_last_event_id(treating: Treating) -> None:
    """What was stored while the browser was away comes first, from after the id it last had, once each."""
    ids = [treating.store(seq, [200.0 + seq]) for seq in (1, 2, 3, 4)]
    url = f"{treating.url}/api/v1/devices/{treating.device_id}/live"

    def first_samples(headers: dict[str, str], count: int, **params: int) -> list[tuple[int | None, int]]:
        with httpx.stream("GET", url, headers=treating.headers | headers, params=params, timeout=10) as response:
            stream = (e for e in events(response.iter_lines()) if e[1] == "telemetry")
            return [(event_id, data["seq"]) for event_id, _, data in (next(stream) for _ in range(count))]

    assert first_samples({"Last-Event-ID": str(ids[1])}, 2) == [(ids[2], 3), (ids[3], 4)]
    assert first_samples({}, 3, after=ids[0]) == [(ids[1], 2), (ids[2], 3), (ids[3], 4)]  # a page opened mid-session
    assert first_samples({"Last-Event-ID": str(ids[2])}, 1, after=0) == [(ids[3], 4)]  # the header wins
    with httpx.stream("GET", url, headers=treating.headers | {"Last-Event-ID": "not-an-id"}, timeout=10) as response:
        lines = response.iter_lines()
        assert next(lines) == "retry: 1000"  # a browser tries again a second after a drop
        read_events(lines, "session")  # an id it never sent is ignored: from now on, nothing stored before
        later = treating.store(5, [205.0])
        assert next(e for e in events(lines) if e[1] == "telemetry")[0] == later


def test_a_signed_in_page_watches_with_its_session_cookie(treating: Treating) -> None:
    """An EventSource cannot send a bearer token; the page's session cookie holds the same token."""
    url = f"{treating.url}/api/v1/devices/{treating.device_id}/live"
    token = treating.headers["Authorization"].removeprefix("Bearer ")
    with httpx.stream("GET", url, cookies={"galvani_session": token}, timeout=10) as response:
        assert response.status_code == 200
        assert read_events(response.iter_lines(), "state") == {"state": "offline", "live": False}
    assert httpx.get(url, cookies={"galvani_session": "forged"}, timeout=5).status_code == 401


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
        assert read_events(response.iter_lines(), "state") == {"state": "offline", "live": False}


def test_the_live_room_needs_a_token_and_a_real_device(served: tuple) -> None:
    base, _app, factory = served
    with transaction(factory) as session:
        headers = bearer(add_user(session, Role.FRONT_DESK))
    assert httpx.get(f"{base}/api/v1/devices/{uuid.uuid4()}/live", timeout=5).status_code == 401
    assert httpx.get(f"{base}/api/v1/devices/{uuid.uuid4()}/live", headers=headers, timeout=5).status_code == 404
