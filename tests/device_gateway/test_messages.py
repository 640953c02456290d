"""Parsing at the edge: every device message becomes a typed object, or is refused with a reason."""

import json
import uuid

import pytest

from device_gateway.messages import Ack, Event, Malformed, Status, Telemetry, parse

SESSION = str(uuid.uuid4())
ROOT = "clinic/v1/devices/gd-1"


def raw(body: dict) -> bytes:
    return json.dumps(body).encode()


def test_each_kind() -> None:
    assert parse(f"{ROOT}/status", raw({"v": 1, "state": "idle", "firmware": "2.3.1", "extra": 1})) == Status(
        "gd-1", "idle"
    )
    command = str(uuid.uuid4())
    assert parse(f"{ROOT}/acks", raw({"v": 1, "command_id": command, "status": "rejected", "reason": "busy"})) == Ack(
        "gd-1", uuid.UUID(command), "rejected", "busy"
    )
    event = parse(
        f"{ROOT}/events",
        raw({"v": 1, "session_id": SESSION, "seq": 1, "type": "started", "step": None, "t_ms": 0, "detail": None}),
    )
    assert event == Event("gd-1", uuid.UUID(SESSION), 1, "started", None, 0, None)
    block = parse(
        f"{ROOT}/telemetry",
        raw(
            {
                "v": 1,
                "session_id": SESSION,
                "seq": 7,
                "step": 0,
                "t_ms": 12000,
                "interval_ms": 100,
                "current_ua": [149.8, 150],
                "contact": True,
            }
        ),
    )
    assert block == Telemetry("gd-1", uuid.UUID(SESSION), 7, 0, 12000, 100, (149.8, 150.0), True)


def test_the_largest_numbers_the_database_holds_are_taken_and_an_event_step_beyond_is_left_out() -> None:
    event = parse(
        f"{ROOT}/events",
        raw({"v": 1, "session_id": SESSION, "seq": 2**31 - 1, "type": "paused", "step": 2**31, "t_ms": 2**63 - 1}),
    )
    assert event == Event("gd-1", uuid.UUID(SESSION), 2**31 - 1, "paused", None, 2**63 - 1, None)


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        (f"{ROOT}/status", b"{not json", "not UTF-8 JSON"),
        (f"{ROOT}/status", b"\xff\xfe", "not UTF-8 JSON"),
        (f"{ROOT}/status", b"[1]", "not a JSON object"),
        (f"{ROOT}/status", raw({"v": 2, "state": "idle"}), "version 1"),
        (f"{ROOT}/status", raw({"v": 1, "state": "dancing"}), "state"),
        (f"{ROOT}/status", b" " * (64 * 1024 + 1), "64 KiB"),
        (f"{ROOT}/acks", raw({"v": 1, "command_id": "x", "status": "accepted"}), "command_id"),
        (f"{ROOT}/events", raw({"v": 1, "session_id": SESSION, "seq": 0, "type": "started", "t_ms": 0}), "seq"),
        (f"{ROOT}/events", raw({"v": 1, "session_id": SESSION, "seq": True, "type": "started", "t_ms": 0}), "seq"),
        (f"{ROOT}/events", raw({"v": 1, "session_id": SESSION, "seq": 1, "type": "exploded", "t_ms": 0}), "type"),
        (f"{ROOT}/events", raw({"v": 1, "session_id": SESSION, "seq": 2**31, "type": "started", "t_ms": 0}), "seq"),
        (f"{ROOT}/events", raw({"v": 1, "session_id": SESSION, "seq": 1, "type": "started", "t_ms": 2**63}), "t_ms"),
        (
            f"{ROOT}/telemetry",
            b'{"v":1,"session_id":"%s","seq":1,"step":0,"t_ms":0,"interval_ms":100,'
            b'"current_ua":[NaN],"contact":true}' % SESSION.encode(),
            "sample",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "seq": 1,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": ["150"],
                    "contact": True,
                }
            ),
            "sample",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "seq": 1,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": [150, True],
                    "contact": True,
                }
            ),
            "sample",
        ),
        (
            f"{ROOT}/telemetry",
            b'{"v":1,"session_id":"%s","seq":1,"step":0,"t_ms":0,"interval_ms":100,'
            b'"current_ua":[150,1e999],"contact":true}' % SESSION.encode(),
            "sample",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "seq": 1,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 0,
                    "current_ua": [150],
                    "contact": True,
                }
            ),
            "interval_ms",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "seq": 1,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": [],
                    "contact": True,
                }
            ),
            "current_ua",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "seq": 1.0,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": [150],
                    "contact": True,
                }
            ),
            "seq",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "seq": 1,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": [150],
                    "contact": 1,
                }
            ),
            "contact",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "seq": 1,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": [150] * 1001,
                    "contact": True,
                }
            ),
            "current_ua",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": [150],
                    "contact": True,
                }
            ),
            "seq is missing",
        ),
        (
            f"{ROOT}/telemetry",
            raw(
                {
                    "v": 1,
                    "session_id": SESSION + "-secret",
                    "seq": 1,
                    "step": 0,
                    "t_ms": 0,
                    "interval_ms": 100,
                    "current_ua": [150],
                    "contact": True,
                }
            ),
            "session_id",
        ),
        ("clinic/v1/devices/gd-1/secrets", raw({"v": 1}), "unknown topic"),
        ("clinic/v1/devices//status", raw({"v": 1, "state": "idle"}), "unknown topic"),
        ("elsewhere/gd-1/status", raw({"v": 1, "state": "idle"}), "unknown topic"),
    ],
)
def test_refused_with_a_reason_that_quotes_nothing(topic: str, payload: bytes, why: str) -> None:
    with pytest.raises(Malformed, match=why) as refused:
        parse(topic, payload)
    assert SESSION not in str(refused.value) and "secret" not in str(refused.value)


BODIES = {  # a valid body of each kind, but for its version
    "status": {"state": "offline"},
    "acks": {"command_id": str(uuid.uuid4()), "status": "accepted", "reason": None},
    "events": {"session_id": SESSION, "seq": 1, "type": "started", "step": None, "t_ms": 0, "detail": None},
    "telemetry": {
        "session_id": SESSION,
        "seq": 1,
        "step": 0,
        "t_ms": 0,
        "interval_ms": 100,
        "current_ua": [150.0],
        "contact": True,
    },
}


@pytest.mark.parametrize("kind", BODIES)
@pytest.mark.parametrize("version", [b"true", b"1.0", b'"1"', b"1e0"])
def test_version_1_is_the_json_integer_1_and_nothing_equal_to_it(kind: str, version: bytes) -> None:
    assert parse(f"{ROOT}/{kind}", raw({"v": 1} | BODIES[kind])) is not None
    payload = b'{"v":%s,%s' % (version, raw(BODIES[kind])[1:])  # True == 1.0 == 1 in Python: not on the wire
    with pytest.raises(Malformed, match="not protocol version 1"):
        parse(f"{ROOT}/{kind}", payload)


def test_an_odd_reason_or_step_is_left_out_rather_than_losing_the_message() -> None:
    command = str(uuid.uuid4())
    assert parse(f"{ROOT}/acks", raw({"v": 1, "command_id": command, "status": "accepted", "reason": 42})) == Ack(
        "gd-1", uuid.UUID(command), "accepted", None
    )
    event = parse(
        f"{ROOT}/events",
        raw({"v": 1, "session_id": SESSION, "seq": 3, "type": "fault", "step": True, "t_ms": 5, "detail": "x" * 600}),
    )
    assert event == Event("gd-1", uuid.UUID(SESSION), 3, "fault", None, 5, "x" * 500)
