"""The `galvani` command as a newcomer and an operator use it: real processes, real ports."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.mqtt import WAIT_S, wait_for_port
from tests.services import free_port

STARTUP_S = 90.0  # a wait that ends as soon as the port opens: only a loaded machine (tests on every core) comes near
ADMIN_EMAIL, ADMIN_PASSWORD = "boss@clinic.example.com", "a-long-admin-password"


def galvani_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")}
    return env | {"GALVANI_DATA_DIR": str(tmp_path / "data"), "GALVANI_EMBEDDED_MQTT_PORT": str(free_port())} | extra


def run_galvani(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "galvani.cli", *args],
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


@contextmanager
def running(*args: str, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start `galvani ARGS --port P`, wait until it answers /health, stop it with SIGTERM afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", *args, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=STARTUP_S)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT_S)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=WAIT_S)
    assert process.returncode == 0, err
    return out, err


def log_in(port: int, email: str, password: str) -> int:
    response = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token", data={"username": email, "password": password})
    return response.status_code


def test_serve_migrates_makes_an_admin_and_stops_cleanly(tmp_path: Path) -> None:
    with running("serve", "--demo", env=galvani_env(tmp_path)) as (process, port):
        deadline = time.monotonic() + STARTUP_S  # the gateway in the same process says it is connected
        while (health := httpx.get(f"http://127.0.0.1:{port}/health").json())["gateway"] != "ok":
            assert time.monotonic() < deadline, "the gateway never said it was connected"
        assert {key: health[key] for key in ("status", "database", "broker")} == {
            "status": "ok",
            "database": "ok",
            "broker": "embedded",
        }
        [gateway] = health["gateways"]
        assert (gateway["role"], gateway["connected"], gateway["problems"]) == ("active", True, [])
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
        out, err = stop(process)
    password = re.search(r"admin admin@galvani\.local with password: (\S+)", out)
    assert password, out
    admin_password = password.group(1)
    assert admin_password not in err  # shown once on the terminal, never in the log
    assert "gateway stopped" in err
    assert "front_desk frontdesk@galvani.local" in out
    assert "Demo: Ada Lovelace is booked in Rose room" in out

    # Second start: same data folder, no new admin, the printed password still works.
    with running("serve", env=galvani_env(tmp_path)) as (process, port):
        assert log_in(port, "admin@galvani.local", admin_password) == 200
        out, _ = stop(process)
    assert "Created admin" not in out


def admin_env(tmp_path: Path) -> dict[str, str]:
    return galvani_env(tmp_path, GALVANI_ADMIN_EMAIL=ADMIN_EMAIL, GALVANI_ADMIN_PASSWORD=ADMIN_PASSWORD)


def admin_headers(port: int) -> dict[str, str]:
    token = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_demo_clinic_has_rooms_devices_and_a_session_due(tmp_path: Path) -> None:
    with running("serve", "--demo", env=admin_env(tmp_path)) as (process, port):
        headers = admin_headers(port)
        devices = httpx.get(f"http://127.0.0.1:{port}/api/v1/devices", headers=headers).json()
        assert {d["serial"] for d in devices} == {"DEMO-001", "DEMO-002"}
        booked = httpx.get(f"http://127.0.0.1:{port}/api/v1/appointments", headers=headers).json()
        assert len(booked) == 1
        out, _ = stop(process)
    assert f"POST /api/v1/appointments/{booked[0]['id']}/start" in out


def test_an_open_live_view_does_not_hold_up_a_stop(tmp_path: Path) -> None:
    with running("serve", "--demo", env=admin_env(tmp_path)) as (process, port):
        headers = admin_headers(port)
        device = httpx.get(f"http://127.0.0.1:{port}/api/v1/devices", headers=headers).json()[0]
        with httpx.stream(
            "GET", f"http://127.0.0.1:{port}/api/v1/devices/{device['id']}/live", headers=headers, timeout=WAIT_S
        ) as live:
            lines = live.iter_lines()  # kept: an iterator dropped would close the connection
            assert next(lines) == "retry: 1000"  # the view is open: first how soon to reconnect, then the device
            assert next(line for line in lines if line.startswith("event: ")) == "event: state"
            started = time.monotonic()
            _, err = stop(process)  # a browser tab left open: the stop must not wait for it
            assert time.monotonic() - started < WAIT_S
            assert not live.is_closed
            list(lines)  # the server ended the stream properly: a body cut off raises here
    assert "Traceback" not in err


def test_first_admin_from_the_environment(tmp_path: Path) -> None:
    with running("serve", env=admin_env(tmp_path)) as (process, port):
        assert log_in(port, ADMIN_EMAIL, ADMIN_PASSWORD) == 200
        out, err = stop(process)
    assert ADMIN_PASSWORD not in out + err


def test_api_alone_serves_a_migrated_database(tmp_path: Path) -> None:
    env = galvani_env(tmp_path)
    assert run_galvani("migrate", env=env).returncode == 0
    with running("api", env=env) as (process, port):
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        stop(process)


@pytest.mark.alone  # its burners would slow another worker's tests, and that worker's tests would add to the load
def test_four_workers_start_on_a_busy_two_core_server(tmp_path: Path) -> None:
    """uvicorn pings each worker and kills one that does not answer in time as hung. With its default of 5 s, four
    workers importing the app at once on a busy small server were killed and started again, for ever."""
    env = galvani_env(tmp_path)
    assert run_galvani("migrate", env=env).returncode == 0
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    api = subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", "api", "--workers", "4", "--port", str(free_port())],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = _LinesUntil(api, "Application startup complete", count=4)
    try:
        log = reader.wait(timeout=180)  # ends at the fourth start; the healthcheck's 60 s decide what died
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
        api.terminate()  # uvicorn stops its workers, which share the stderr being read
        try:
            api.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()
        reader.join()
        api.stderr.close()  # type: ignore[union-attr]
    assert [line for line in log if "died" in line] == [], log
    assert sum("Application startup complete" in line for line in log) == 4, log


class _LinesUntil:
    """Reads what a process writes to stderr, in a thread, until `text` has appeared `count` times or it ends."""

    def __init__(self, process: subprocess.Popen[str], text: str, *, count: int) -> None:
        assert process.stderr is not None
        self._stderr, self._text, self._count = process.stderr, text, count
        self.lines: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stderr:
            self.lines.append(line)
            if sum(self._text in seen for seen in self.lines) >= self._count:
                break
        self._done.set()

    def wait(self, timeout: float) -> list[str]:
        """The lines read when `text` came `count` times, or when the time ran out."""
        self._done.wait(timeout)
        return list(self.lines)

    def join(self) -> None:
        """Once the process has ended: the reader stops at the end of its output, before the pipe is closed."""
        self._thread.join(WAIT_S)


def test_create_user_then_log_in(tmp_path: Path) -> None:
    env = galvani_env(tmp_path)
    run_galvani("migrate", env=env)
    esme = ("create-user", "--email", "esme@clinic.example.com", "--full-name", "Esme", "--role", "esthetician")
    made = run_galvani(*esme, "--password-stdin", env=env, stdin="a-long-password\n")
    assert made.returncode == 0, made.stderr
    again = run_galvani(*esme, "--password-stdin", env=env, stdin="a-long-password\n")  # the same account again
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run_galvani(
        "create-user",
        "--email",
        "x@clinic.example.com",
        "--full-name",
        "X",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        stdin="short\n",
    )
    assert short.returncode == 2
    with running("api", env=env) as (process, port):
        assert log_in(port, "esme@clinic.example.com", "a-long-password") == 200
        stop(process)


def test_the_access_log_leaves_out_what_was_searched(tmp_path: Path) -> None:
    """A search's query holds a client's name: the access log shows the path and the answer, not the query."""
    env = admin_env(tmp_path)
    assert run_galvani("migrate", env=env).returncode == 0
    with running("api", env=env) as (process, port):
        found = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/clients", params={"q": "Lovelace"}, headers=admin_headers(port)
        )
        assert found.status_code == 200
        out, err = stop(process)
    assert re.search(r'"GET /api/v1/clients HTTP/1\.1" 200', out), out
    assert "Lovelace" not in out + err


def test_production_without_an_admin_password_makes_no_admin(tmp_path: Path) -> None:
    """No password is made up where it would be printed into the service's log; the log says what to run."""
    env = galvani_env(tmp_path, GALVANI_ENV="production", GALVANI_SECRET_KEY="k" * 48)
    assert run_galvani("migrate", env=env).returncode == 0
    with running("api", env=env) as (process, port):
        assert log_in(port, "admin@galvani.local", "any-password-at-all") == 401
        out, err = stop(process)
    assert "password:" not in (out + err).lower()
    assert (
        "docker compose run --rm api galvani create-user --role admin --email admin@galvani.local "
        "--full-name Administrator"
    ) in out
    made = run_galvani(
        "create-user",
        "--role",
        "admin",
        "--email",
        "admin@galvani.local",
        "--full-name",
        "Administrator",
        "--password-stdin",
        env=env,
        stdin="a-long-admin-password\n",
    )
    assert made.returncode == 0, made.stderr
    with running("api", env=env) as (process, port):
        assert log_in(port, "admin@galvani.local", "a-long-admin-password") == 200
        out, _ = stop(process)
    assert "create-user" not in out  # an admin exists: nothing more to say


def test_production_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    env = galvani_env(tmp_path, GALVANI_ENV="production", GALVANI_SECRET_KEY="changeme")
    result = run_galvani("migrate", env=env)
    assert result.returncode != 0
    assert "GALVANI_SECRET_KEY" in result.stderr


@pytest.mark.parametrize("command", ["serve", "api"])
def test_sigint_stops_cleanly_too(command: str, tmp_path: Path) -> None:
    env = galvani_env(tmp_path)
    run_galvani("migrate", env=env)
    with running(command, env=env) as (process, _port):
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        assert time.monotonic() - started < WAIT_S


def test_simulate_brings_the_registered_devices_online(tmp_path: Path) -> None:
    from db.models import Device, DeviceStatus, Room
    from db.session import make_engine, make_session_factory, transaction
    from device_gateway import topics
    from tests.mqtt import Subscriber, private_mosquitto

    env = galvani_env(tmp_path)
    assert run_galvani("migrate", env=env).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'galvani.db'}")
    with transaction(make_session_factory(engine)) as session:
        room = Room(name="Room 1")
        session.add(room)
        session.flush()
        session.add(
            Device(
                device_id="gd-cli1",
                serial="S1",
                room_id=room.id,
                probe_area_cm2=0.5,
                mqtt_password_hash="unused",
                status=DeviceStatus.IN_SERVICE,
            )
        )
    engine.dispose()
    with private_mosquitto(tmp_path) as port:
        status = Subscriber(port, topics.device_topic("gd-cli1", "status"))
        process = subprocess.Popen(
            [sys.executable, "-m", "galvani.cli", "simulate", "--speed", "10"],
            env=env | {"GALVANI_MQTT_URL": f"mqtt://127.0.0.1:{port}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert json.loads(status.next_payload())["state"] == "idle"
            out, _ = stop(process)
            assert json.loads(status.next_payload()) == {"v": 1, "state": "offline"}
            assert "simulating 1 devices" in out
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=WAIT_S)
            status.close()


def test_simulate_refuses_a_credentials_file_others_may_read(tmp_path: Path) -> None:
    credentials = tmp_path / "devices.txt"
    credentials.write_text("gd-room1:a-device-password\n")
    credentials.chmod(0o644)
    result = run_galvani("simulate", "--credentials", str(credentials), env=galvani_env(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"no device simulated: {credentials} holds device passwords but every user of "
        f"this machine may open it (mode 0644); run: chmod 600 {credentials}"
    )
    assert "a-device-password" not in result.stderr


# --- galvani gateway-health: compose's health check of the gateway ------------------------------------


def _health_report(
    status: str, *, written_s_ago: float = 0.5, role: str = "active", problems: Sequence[tuple[str, datetime]] = ()
) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "status": status,
        "role": role,
        "written_at": (now - timedelta(seconds=written_s_ago)).isoformat(),
        "problems": [{"part": part, "since": since.isoformat()} for part, since in problems],
    }


def _clock(moment: datetime) -> set[str]:
    """How the command shows a moment: the time of day, or with the date when it is no longer today
    (the test may run across midnight)."""
    moment = moment.astimezone(UTC)
    return {f"{moment:%H:%M:%S}Z", f"{moment:%Y-%m-%d %H:%M:%S}Z"}


def gateway_health(tmp_path: Path, content: bytes | None) -> tuple[int, str]:
    """Run `galvani gateway-health` on a health file with this content (None: no file); its exit code and line."""
    health_file = tmp_path / "data" / "gateway-health.json"  # where the gateway writes it by default
    if content is not None:
        health_file.parent.mkdir(parents=True, exist_ok=True)
        health_file.write_bytes(content)
    result = run_galvani("gateway-health", env=galvani_env(tmp_path))
    assert "Traceback" not in result.stderr
    assert result.stdout.count("\n") == 1, result.stdout  # one line, for `docker inspect`
    return result.returncode, result.stdout.strip()


def test_gateway_health_ok(tmp_path: Path) -> None:
    report = _health_report("ok", role="standby")
    assert gateway_health(tmp_path, json.dumps(report).encode()) == (0, "gateway ok (standby)")


def test_gateway_health_degraded_is_still_healthy(tmp_path: Path) -> None:
    """A gateway without its database still stops devices; a restart would not bring the database back."""
    since = datetime.now(UTC) - timedelta(seconds=30)
    report = _health_report("degraded", problems=[("database", since)])
    code, line = gateway_health(tmp_path, json.dumps(report).encode())
    assert code == 0
    assert line in {f"gateway degraded (active): database since {clock}" for clock in _clock(since)}


def test_gateway_health_down_is_unhealthy(tmp_path: Path) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    report = _health_report("down", problems=[("broker", since), ("database", since)])
    code, line = gateway_health(tmp_path, json.dumps(report).encode())
    assert code == 1
    assert line in {f"gateway down (active): broker since {clock}, database since {clock}" for clock in _clock(since)}


@pytest.mark.parametrize("written_s_ago", [11, -60], ids=["stale", "from-the-future"])
def test_gateway_health_written_long_ago_is_unhealthy(tmp_path: Path, written_s_ago: float) -> None:
    """A gateway that stopped writing is hung or dead, whatever it last said."""
    code, line = gateway_health(tmp_path, json.dumps(_health_report("ok", written_s_ago=written_s_ago)).encode())
    assert code == 1
    assert line.startswith("gateway silent: its health was last written at "), line


def test_gateway_health_the_gateway_health_file_setting_is_read(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(_health_report("ok")))
    result = run_galvani("gateway-health", env=galvani_env(tmp_path, GALVANI_GATEWAY_HEALTH_FILE=str(elsewhere)))
    assert (result.returncode, result.stdout) == (0, "gateway ok (active)\n")


def test_gateway_health_without_a_file_is_unhealthy(tmp_path: Path) -> None:
    assert gateway_health(tmp_path, None) == (
        1,
        f"gateway health unknown: {tmp_path / 'data' / 'gateway-health.json'} does not exist (is the gateway running?)",
    )


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        json.dumps(_health_report("sleeping")).encode(),
        json.dumps(_health_report("ok") | {"written_at": "2026-11-20T10:00:00"}).encode(),  # no offset: whose clock?
    ],
    ids=["empty", "garbage", "not-an-object", "unknown-status", "naive-time"],
)
def test_gateway_health_unreadable_is_unhealthy(tmp_path: Path, content: bytes) -> None:
    code, line = gateway_health(tmp_path, content)
    assert code == 1
    assert line.endswith("gateway-health.json is not a health report the gateway writes"), line


def test_the_health_check_does_not_load_the_api_or_the_gateway() -> None:
    """Docker runs `galvani gateway-health` every few seconds: it must not pay for importing the whole service."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, galvani.cli; print(*sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = {"api", "uvicorn", "fastapi", "device_gateway", "paho", "alembic", "amqtt"}
    assert not heavy & {name.split(".")[0] for name in loaded}


def test_api_with_a_certificate_it_cannot_read_says_so_and_serves_nothing(tmp_path: Path) -> None:
    """Before anything else: no admin made, no port opened, no traceback from each worker."""
    missing = tmp_path / "certs" / "https.pem"
    env = galvani_env(tmp_path, GALVANI_TLS_CERTFILE=str(missing), GALVANI_TLS_KEYFILE=str(tmp_path / "key.pem"))
    result = run_galvani("api", "--workers", "2", env=env)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"no HTTPS: {missing} cannot be read by uid {os.getuid()} (No such file or directory)"
    )
    assert "Created" not in result.stdout
