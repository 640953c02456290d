"""`/metrics` after real sessions: a simulated device over a real broker, the gateway, the API, one database. The
scrape shows the session's messages as the gateway counted them (received, stored, duplicates, malformed), the
interlock's stop, the session's status, the alarm, and the outbox."""

from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from db.outbox import queue_command
from tests.device_gateway.conftest import Armed, RealClinic, eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: TestClient) -> Samples:
    """Every sample of /metrics, scraped from this machine (no token is configured: loopback may scrape)."""
    local = TestClient(http.app, client=("127.0.0.1", 50000))
    response = local.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_scrape_after_a_stopped_session_shows_its_messages_and_the_stop(clinic: RealClinic) -> None:
    device = clinic.device(over_current_ua=400, duplicate_every=3, malformed_every=4)
    try:
        session_id, record = clinic.run_session(device, "stopped")
    finally:
        device.stop()
    assert [incident["kind"] for incident in record["incidents"]] == ["over_current"]
    gateway = clinic.gateway.client_id
    stored = clinic.stored_messages(session_id)
    assert stored > 2  # events and telemetry blocks up to the stop

    # the gateway writes its counters with its presence, every 2 s: wait for the row that has them all
    def counted_all() -> Samples | None:
        samples = scrape(clinic.http)
        return (
            samples
            if value(samples, "galvani_gateway_messages_total", gateway=gateway, outcome="stored") == stored
            else None
        )

    samples = eventually(counted_all)
    assert value(samples, "galvani_gateway_messages_total", gateway=gateway, outcome="duplicate") >= 1
    assert value(samples, "galvani_gateway_messages_total", gateway=gateway, outcome="malformed") >= 1
    received = value(samples, "galvani_gateway_messages_received_total", gateway=gateway)
    handled = sum(
        value(samples, "galvani_gateway_messages_total", gateway=gateway, outcome=outcome)
        for outcome in ("stored", "duplicate", "dropped", "malformed")
    )
    assert received >= handled > stored  # what came in includes the statuses and answers to commands
    assert value(samples, "galvani_gateway_errors_total", gateway=gateway) == 0
    assert value(samples, "galvani_gateway_active", gateway=gateway) == 1
    assert value(samples, "galvani_gateway_connected", gateway=gateway) == 1

    assert value(samples, "galvani_interlock_stops_total", reason="over_current") == 1
    assert value(samples, "galvani_interlock_stops_total", reason="over_time") == 0
    assert value(samples, "galvani_sessions", status="stopped") == 1
    assert value(samples, "galvani_sessions", status="completed") == 0
    assert value(samples, "galvani_alarms_active", kind="over_current", severity="high") == 1
    assert value(samples, "galvani_alarms_raised_total", kind="over_current", severity="high") == 1
    assert value(samples, "galvani_database_up") == 1

    # the requests the test made, by route template: no session id, no query string
    start = {"method": "POST", "route": "/api/v1/appointments/{appointment_id}/start", "status": "201"}
    assert value(samples, "galvani_http_request_duration_seconds_count", **start) >= 1
    assert session_id not in str(samples) and str(clinic.appointment) not in str(samples)


def test_the_outbox_depth_and_the_age_of_its_oldest_command(armed: Armed, client: TestClient, db: Session) -> None:
    """A command written and not yet sent counts in the depth; nothing queued is an age of 0."""
    assert value(scrape(client), "galvani_outbox_depth") == 0  # the fixture's load_protocol was sent
    assert value(scrape(client), "galvani_outbox_oldest_age_seconds") == 0
    stop = queue_command(db, device_id=armed.device.id, session_id=armed.treatment.id, kind="stop", body={})
    stop.created_at -= timedelta(minutes=3)  # written three minutes ago, and still not sent
    db.commit()
    samples = scrape(client)
    assert value(samples, "galvani_outbox_depth") == 1
    assert 180 <= value(samples, "galvani_outbox_oldest_age_seconds") < 240
    assert value(samples, "galvani_sessions", status="pending") == 1
