"""Device messages, parsed at the edge into frozen objects before any handler sees them (device-protocol.md).

Each kind's JSON body is checked by pydantic straight from the payload's bytes, in strict mode: a count
must be a JSON integer (not `true`, not `1.0`), a sample a finite number, `contact` true or false. That is
a third of the time the same checks took in Python, and the gateway parses every message a device sends.
"""

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from device_gateway import topics

MAX_PAYLOAD_BYTES = 64 * 1024
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1  # what the database's integer columns hold
DeviceState = Literal["idle", "armed", "treating", "paused", "fault", "offline"]
AckStatus = Literal["accepted", "rejected", "executed"]
EventType = Literal[
    "started",
    "step_started",
    "step_completed",
    "paused",
    "resumed",
    "contact_lost",
    "contact_restored",
    "completed",
    "stopped",
    "fault",
]
Seq = Annotated[int, Field(ge=1, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
Millis = Annotated[int, Field(ge=0, le=INT64_MAX)]
# Literal[1] would take `true` and `1.0` (True == 1.0 == 1 in Python); a strict int in [1, 1] takes only 1
Version1 = Annotated[int, Field(ge=1, le=1)]
# The most seqs a session can use. Generous, since a message wrongly dropped is lost, while a few thousand more
# possible seqs cost nothing: every 100 ms sample of output may come as a block of its own after a pair of
# events (contact lost and restored, or paused and resumed); each step adds step_started and step_completed; each
# session adds started and its last events (completed, stopped, a fault), and 100 pairs of pauses with no output.
SEQS_PER_OUTPUT_S, SEQS_PER_STEP, SEQS_PER_SESSION = 10 * 3, 2, 3 + 100 * 2


class Malformed(ValueError):
    """A message the gateway drops; the reason is safe to log (it never quotes the payload)."""


@dataclass(frozen=True)
class Status:
    device_id: str
    state: str
    session_id: uuid.UUID | None = None  # the session the device is in, if it says so


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


class _Body(TypedDict):
    """What every message has; fields a kind does not name are ignored."""

    # pydantic reads a TypedDict's config from this key, which mypy does not know a TypedDict may have
    __pydantic_config__ = ConfigDict(strict=True, allow_inf_nan=False)  # type: ignore[misc]
    v: Version1


class _StatusBody(_Body):
    state: DeviceState
    session_id: NotRequired[Any]  # informative only: kept when it is a session id


class _AckBody(_Body):
    command_id: uuid.UUID
    status: AckStatus
    reason: NotRequired[Any]  # kept only when it is text: an odd reason must not lose the answer


class _EventBody(_Body):
    session_id: uuid.UUID
    seq: Seq
    type: EventType
    t_ms: Millis
    step: NotRequired[Any]  # informative only: kept when it is a step number
    detail: NotRequired[Any]


class _TelemetryBody(_Body):
    session_id: uuid.UUID
    seq: Seq
    step: Count
    t_ms: Millis
    interval_ms: Annotated[int, Field(ge=1, le=INT32_MAX)]
    current_ua: Annotated[tuple[float, ...], Field(min_length=1, max_length=1000)]
    contact: bool


def highest_seq(max_output_s: float, steps: int) -> int:
    """The highest seq a session with this output limit and number of steps can reach (device-protocol.md): a
    higher one is no gap of millions of messages but a message to drop."""
    return SEQS_PER_OUTPUT_S * math.ceil(max_output_s) + SEQS_PER_STEP * steps + SEQS_PER_SESSION


def parse(topic: str, payload: bytes) -> DeviceMessage:
    """One device message, or Malformed saying why not."""
    device_id, leaf = _topic_parts(topic)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Malformed("payload over 64 KiB")
    body_type, make = _KINDS[leaf]
    try:
        body = body_type.validate_json(payload)
    except ValidationError as refused:
        raise Malformed(_reason(refused)) from None  # its own text may quote the payload
    return make(device_id, body)


def _topic_parts(topic: str) -> tuple[str, str]:
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != topics.DEVICES_ROOT or parts[4] not in _KINDS or not parts[3]:
        raise Malformed("unknown topic")
    return parts[3], parts[4]


def _reason(refused: ValidationError) -> str:
    """Why, in words that name a field and never quote a value."""
    errors = refused.errors(include_input=False, include_url=False, include_context=False)
    first = next((error for error in errors if error["loc"][:1] == ("v",)), errors[0])
    if first["loc"] == ():
        return "not UTF-8 JSON" if first["type"] == "json_invalid" else "not a JSON object"
    if first["loc"][0] == "v":
        return "not protocol version 1"
    if first["loc"][0] == "current_ua" and len(first["loc"]) > 1:
        return "a sample in current_ua is not a finite number"
    return f"{first['loc'][0]} is missing" if first["type"] == "missing" else f"{first['loc'][0]} is not valid"


def _status(device_id: str, body: dict[str, Any]) -> Status:
    return Status(device_id, body["state"], _uuid_or_none(body.get("session_id")))


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _ack(device_id: str, body: dict[str, Any]) -> Ack:
    reason = body.get("reason")
    return Ack(device_id, body["command_id"], body["status"], reason if isinstance(reason, str) else None)


def _event(device_id: str, body: dict[str, Any]) -> Event:
    step, detail = body.get("step"), body.get("detail")
    if not (type(step) is int and 0 <= step <= INT32_MAX):  # type(True) is bool, not int
        step = None
    return Event(
        device_id,
        body["session_id"],
        body["seq"],
        body["type"],
        step,
        body["t_ms"],
        str(detail)[:500] if detail is not None else None,
    )


def _telemetry(device_id: str, body: dict[str, Any]) -> Telemetry:
    return Telemetry(
        device_id,
        body["session_id"],
        body["seq"],
        body["step"],
        body["t_ms"],
        body["interval_ms"],
        body["current_ua"],
        body["contact"],
    )


_KINDS: dict[str, tuple[TypeAdapter[Any], Callable[[str, Any], DeviceMessage]]] = {
    "status": (TypeAdapter(_StatusBody), _status),
    "acks": (TypeAdapter(_AckBody), _ack),
    "events": (TypeAdapter(_EventBody), _event),
    "telemetry": (TypeAdapter(_TelemetryBody), _telemetry),
}
