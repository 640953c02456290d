"""A simulated device's payloads are device protocol v1's, byte for byte as the protocol document shows them,
and the gateway reads each of them back as what it was."""

import uuid
from datetime import UTC, datetime, timedelta

from device_gateway import simulated_messages
from device_gateway.messages import Ack, Event, Status, Telemetry, parse

SESSION = str(uuid.uuid4())
ROOT = "clinic/v1/devices/gd-1"


def test_ack() -> None:
    assert (
        simulated_messages.ack("7f0c", "accepted") == b'{"v":1,"command_id":"7f0c","status":"accepted","reason":null}'
    )
    assert simulated_messages.ack("7f0c", "rejected", "busy").endswith(b'"status":"rejected","reason":"busy"}')


def test_status_is_stamped_when_it_is_made() -> None:
    before = datetime.now(UTC)
    payload = simulated_messages.status("idle", None, firmware="2.3.1", probe_area_cm2=0.5, max_current_ua=600)
    fields, _, stamp = payload.partition(b'"ts":"')
    assert fields == (
        b'{"v":1,"state":"idle","session_id":null,"firmware":"2.3.1","probe_area_cm2":0.5,"max_current_ua":600,'
    )
    assert stamp.endswith(b'+00:00"}')  # milliseconds, cut rather than rounded: at most 1 ms before `before`
    assert before - timedelta(milliseconds=1) <= datetime.fromisoformat(stamp[:-2].decode()) <= datetime.now(UTC)


def test_event() -> None:
    assert simulated_messages.event("s-1", 1, "started", step=None, t_ms=0) == (
        b'{"v":1,"session_id":"s-1","seq":1,"type":"started","step":null,"t_ms":0,"detail":null}'
    )


def test_telemetry() -> None:
    assert simulated_messages.telemetry("s-1", 7, step=0, t_ms=12000, current_ua=[149.8, -150.2]) == (
        b'{"v":1,"session_id":"s-1","seq":7,"step":0,"t_ms":12000,"interval_ms":100,'
        b'"current_ua":[149.8,-150.2],"contact":true}'
    )


def test_the_gateway_reads_each_back() -> None:
    command = uuid.uuid4()
    status = simulated_messages.status("armed", SESSION, firmware="sim-1.0", probe_area_cm2=0.5, max_current_ua=600)
    assert parse(f"{ROOT}/status", status) == Status("gd-1", "armed", uuid.UUID(SESSION))
    assert parse(f"{ROOT}/acks", simulated_messages.ack(str(command), "executed")) == Ack(
        "gd-1", command, "executed", None
    )
    event = simulated_messages.event(SESSION, 3, "step_completed", step=1, t_ms=5000)
    assert parse(f"{ROOT}/events", event) == Event("gd-1", uuid.UUID(SESSION), 3, "step_completed", 1, 5000, None)
    block = simulated_messages.telemetry(SESSION, 2, step=0, t_ms=1000, current_ua=[150.0, -150.0])
    assert parse(f"{ROOT}/telemetry", block) == Telemetry(
        "gd-1", uuid.UUID(SESSION), 2, 0, 1000, 100, (150.0, -150.0), True
    )
