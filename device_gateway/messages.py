"""Device messages, parsed at the edge into frozen objects before any handler sees them (device-protocol.md)."""

import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

from device_gateway import topics

MAX_PAYLOAD_BYTES = 64 * 1024
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1  # what the database's integer columns hold
DEVICE_STATES = frozenset({"idle", "armed", "treating", "paused", "fault", "offline"})
ACK_STATUSES = frozenset({"accepted", "rejected", "executed"})
EVENT_TYPES = frozenset({"started", "step_started", "step_completed", "paused", "resumed", "contact_lost",
                         "contact_restored", "completed", "stopped", "fault"})


class Malformed(ValueError):
    """A message the gateway drops; the reason is safe to log (it never quotes the payload)."""


@dataclass(frozen=True)
class Status:
    device_id: str
    state: str


@dataclass(frozen=True)
class Ack:
    device_id: str
    command_id: uuid.UUID
    status: str
    reason: str | None


@dataclass(frozen=True)
class Event:
    device_id: str
    session_id: uuid.UUID
    seq: int
    type: str
    step: int | None
    t_ms: int
    detail: str | None


@dataclass(frozen=True)
class Telemetry:
    device_id: str
    session_id: uuid.UUID
    seq: int
    step: int
    t_ms: int
    interval_ms: int
    current_ua: tuple[float, ...]
    contact: bool


DeviceMessage = Status | Ack | Event | Telemetry


def parse(topic: str, payload: bytes) -> DeviceMessage:
    """One device message, or Malformed saying why not."""
    device_id, leaf = _topic_parts(topic)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Malformed("payload over 64 KiB")
    body = _json_object(payload)
    if body.get("v") != 1:
        raise Malformed("not protocol version 1")
    return _PARSERS[leaf](device_id, body)


def _topic_parts(topic: str) -> tuple[str, str]:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != topics.DEVICES_ROOT or parts[4] not in _PARSERS or not parts[3]:
        raise Malformed("unknown topic")
    return parts[3], parts[4]


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        body = _DECODER.decode(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Malformed("not UTF-8 JSON") from exc
    if not isinstance(body, dict):
        raise Malformed("not a JSON object")
    return body


def _refuse_constant(name: str) -> float:
    raise Malformed(f"{name} is not a number")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # made once: json.loads with options makes one a call


def _status(device_id: str, body: dict[str, Any]) -> Status:
    return Status(device_id, _one_of(body, "state", DEVICE_STATES))


def _ack(device_id: str, body: dict[str, Any]) -> Ack:
    reason = body.get("reason")
    return Ack(device_id, _uuid(body, "command_id"), _one_of(body, "status", ACK_STATUSES),
               reason if isinstance(reason, str) else None)


def _event(device_id: str, body: dict[str, Any]) -> Event:
    step = body.get("step")
    detail = body.get("detail")
    return Event(device_id, _uuid(body, "session_id"), _count(body, "seq", minimum=1),
                 _one_of(body, "type", EVENT_TYPES),
                 step if isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= INT32_MAX else None,
                 _count(body, "t_ms", maximum=INT64_MAX), str(detail)[:500] if detail is not None else None)


def _telemetry(device_id: str, body: dict[str, Any]) -> Telemetry:
    samples = body.get("current_ua")
    if not isinstance(samples, list) or not samples or len(samples) > 1000:
        raise Malformed("current_ua is not a list of samples")
    if not all(type(s) is float or type(s) is int for s in samples):  # type(True) is bool, not int
        raise Malformed("a sample is not a number")
    currents = tuple(map(float, samples))
    if not all(map(math.isfinite, currents)):  # 1e999 decodes as infinity
        raise Malformed("a sample is not a number")
    contact = body.get("contact")
    if not isinstance(contact, bool):
        raise Malformed("contact is not true or false")
    return Telemetry(device_id, _uuid(body, "session_id"), _count(body, "seq", minimum=1), _count(body, "step"),
                     _count(body, "t_ms", maximum=INT64_MAX), _count(body, "interval_ms", minimum=1),
                     currents, contact)


def _uuid(body: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(body[name]))
    except (KeyError, ValueError) as exc:
        raise Malformed(f"{name} is not an id") from exc


def _count(body: dict[str, Any], name: str, minimum: int = 0, maximum: int = INT32_MAX) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise Malformed(f"{name} is not a whole number from {minimum} to {maximum}")
    return value


def _one_of(body: dict[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise Malformed(f"{name} is not one of the protocol's values")
    return str(value)


_PARSERS = {"status": _status, "acks": _ack, "events": _event, "telemetry": _telemetry}
