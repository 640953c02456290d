"""`galvani api --workers 2` as production runs it: JSON log lines that carry each request's id and never a
screening's answers, and a /metrics whose request counts add up every worker's, whichever worker is scraped."""

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import NOTHING
from tests.mqtt import WAIT_S, wait_for_port
from tests.services import free_port
from tests.test_cli import ADMIN_EMAIL, ADMIN_PASSWORD, STARTUP_S, galvani_env, run_galvani

# Answers no other line could hold by chance: a date of the client's last peel and laser, and an answer refused.
PEEL_ON, LASER_ON, REFUSED_ANSWER = "2019-07-23", "2018-03-11", "perhaps-1729"


@dataclass
class RunningApi:
    base: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)  # what it wrote, stdout and stderr, as it came

    def logged(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (the terminal also gets a few plain lines printed at start)."""
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def access_lines(self, request_id: str) -> list[dict[str, Any]]:
        return [line for line in self.logged() if line.get("request_id") == request_id and "status" in line]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    tmp_path = tmp_path_factory.mktemp("api")
    env = galvani_env(
        tmp_path,
        GALVANI_LOG_FORMAT="json",
        GALVANI_LOG_LEVEL="DEBUG",
        GALVANI_ADMIN_EMAIL=ADMIN_EMAIL,
        GALVANI_ADMIN_PASSWORD=ADMIN_PASSWORD,
        GALVANI_CLINIC_TIMEZONE="UTC",
    )
    assert run_galvani("migrate", env=env).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", "api", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = RunningApi(f"http://127.0.0.1:{port}", process)
    readers = [
        threading.Thread(target=_collect, args=(stream, running.lines)) for stream in (process.stdout, process.stderr)
    ]
    for reader in readers:
        reader.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=STARTUP_S)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=WAIT_S)
        for reader in readers:
            reader.join(timeout=WAIT_S)
        for stream in (process.stdout, process.stderr):
            stream.close()  # type: ignore[union-attr]


def _collect(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def eventually_logged(api: RunningApi, request_id: str) -> list[dict[str, Any]]:
    """The access lines of a request: uvicorn writes them as the answer goes out, the pipe brings them a moment
    later."""
    deadline = time.monotonic() + WAIT_S
    while not (found := api.access_lines(request_id)):
        assert time.monotonic() < deadline, f"no access line with request id {request_id}"
        time.sleep(0.02)  # reading another process's output: no event to await
    return found


def log_in(api: RunningApi) -> dict[str, str]:
    response = httpx.post(f"{api.base}/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_each_request_has_an_id_in_its_answer_and_on_its_log_lines(api: RunningApi) -> None:
    sent = httpx.get(f"{api.base}/health", headers={"X-Request-ID": "probe-7f3a"})
    assert sent.headers["X-Request-ID"] == "probe-7f3a"
    [line] = eventually_logged(api, "probe-7f3a")
    assert (line["method"], line["path"], line["status"], line["logger"]) == ("GET", "/health", 200, "uvicorn.access")
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")

    made = httpx.get(f"{api.base}/health")  # none sent: one is made
    insane = httpx.get(f"{api.base}/health", headers={"X-Request-ID": "a b<script>"})  # not copied into a log
    for response in (made, insane):
        request_id = response.headers["X-Request-ID"]
        assert len(request_id) == 32 and int(request_id, 16) >= 0
        assert eventually_logged(api, request_id)
    assert not any("<script>" in line for line in api.lines)


def test_a_screening_and_its_answers_never_reach_the_logs(api: RunningApi) -> None:
    admin = log_in(api)
    client = httpx.post(
        f"{api.base}/api/v1/clients",
        headers=admin,
        json={
            "first_name": "Zebulon",
            "last_name": "Quill",
            "date_of_birth": "1985-01-01",
            "email": "z.quill@example.com",
        },
    )
    assert client.status_code == 201, client.text
    screenings = f"{api.base}/api/v1/clients/{client.json()['id']}/screenings"
    answers = NOTHING | {"chemical_peel_last_on": PEEL_ON, "laser_last_on": LASER_ON, "botox_zones": ["forehead"]}
    stored = httpx.post(screenings, headers=admin | {"X-Request-ID": "screening-1"}, json={"answers": answers})
    assert stored.status_code == 201, stored.text
    refused = httpx.post(
        screenings,
        headers=admin | {"X-Request-ID": "screening-2"},
        json={"answers": NOTHING | {"pregnant": REFUSED_ANSWER}},
    )
    assert refused.status_code == 422
    listed = httpx.get(screenings, headers=admin | {"X-Request-ID": "screening-3"})
    assert PEEL_ON in listed.text  # the answers were there to leak
    searched = httpx.get(f"{api.base}/api/v1/clients", params={"q": "Zebulon"}, headers=admin)
    assert searched.status_code == 200

    for request_id, status in (("screening-1", 201), ("screening-2", 422), ("screening-3", 200)):
        assert [line["status"] for line in eventually_logged(api, request_id)] == [status]
    written = "\n".join(api.lines)
    for secret in (PEEL_ON, LASER_ON, REFUSED_ANSWER, "chemical_peel_last_on", "forehead", "Zebulon", "z.quill"):
        assert secret not in written
    assert ADMIN_PASSWORD not in written


def test_request_metrics_add_up_across_the_workers(api: RunningApi) -> None:
    """Ask until both workers have answered (each access line names its process), then every scrape, whichever
    worker answers it, counts every request."""
    before = _health_requests(api)
    asked, workers = 0, set()
    while len(workers) < 2:
        assert asked < 200, "one worker answered every request"
        request_id = f"count-{asked}"
        with httpx.Client() as fresh:  # a new connection: the workers take turns accepting them
            assert fresh.get(f"{api.base}/health", headers={"X-Request-ID": request_id}).status_code == 200
        asked += 1
        workers |= {line["pid"] for line in eventually_logged(api, request_id)}
    for _scrape in range(4):
        assert _health_requests(api) - before == asked


def test_metrics_are_only_for_this_machine_without_a_token(api: RunningApi) -> None:
    scraped = httpx.get(f"{api.base}/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert "galvani_database_up 1.0" in scraped.text


def _health_requests(api: RunningApi) -> float:
    response = httpx.get(f"{api.base}/metrics")
    assert response.status_code == 200, response.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "galvani_http_request_duration_seconds_count"
        and sample.labels == {"method": "GET", "route": "/health", "status": "200"}
    )


def test_the_gateway_logs_json_lines_too(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`galvani gateway`, with the embedded broker: its own lines, and the gateway's, are JSON with no request id."""
    env = galvani_env(tmp_path_factory.mktemp("gateway"), GALVANI_LOG_FORMAT="json")
    assert run_galvani("migrate", env=env).returncode == 0
    gateway = subprocess.Popen(
        [sys.executable, "-m", "galvani.cli", "gateway"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(gateway.stderr, lines))
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_S
        while not any("gateway connected to" in line for line in lines):
            assert time.monotonic() < deadline and gateway.poll() is None, lines
            time.sleep(0.02)  # reading another process's output: no event to await
    finally:
        gateway.terminate()
        gateway.wait(timeout=WAIT_S)
        reader.join(timeout=WAIT_S)
        gateway.stderr.close()  # type: ignore[union-attr]
    logged = [json.loads(line) for line in lines if line.strip()]  # every line is JSON, or this raises
    [connected] = [line for line in logged if line["message"].startswith("gateway connected to")]
    assert (connected["logger"], connected["level"]) == ("device_gateway.gateway", "INFO")
    assert not any("request_id" in line for line in logged)
