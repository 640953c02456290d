"""What a simulated device knows about one session: vetting load_protocol, its clock, the current it measures."""

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SAMPLE_INTERVAL_MS = 100  # devices sample at 10 Hz ...
BLOCK_SAMPLES = 10  # ... and send one block a second
JITTER = 0.004  # relative amplitude of the simulated measurement noise: inside ±0.5 %
POLARITIES = ("positive", "negative", "alternating")


class Rejected(Exception):
    """A load_protocol the device refuses; `reason` is one of the contract's reasons."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Step:
    """One protocol step as far as the output stage cares."""

    current_ua: float
    duration_s: float
    polarity: str = "positive"

    @property
    def samples(self) -> int:
        """How many 100 ms samples the step lasts; a fractional second ends in a short last block."""
        return max(1, round(self.duration_s * 1000 / SAMPLE_INTERVAL_MS))


@dataclass(frozen=True)
class LoadedProtocol:
    """The fields of a well-formed load_protocol command that the device acts on."""

    session_id: str
    expires_at: datetime
    sha256: str
    raw_steps: list[Any]  # hashed exactly as received
    steps: tuple[Step, ...]
    max_current_ua: float
    max_output_s: float


def steps_sha256(steps: Any) -> str:
    """The contract's protocol hash: hex SHA-256 of the steps' compact JSON with sorted keys."""
    return hashlib.sha256(json.dumps(steps, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def parse_load_protocol(command: dict[str, Any]) -> LoadedProtocol:
    """Read a load_protocol command; a missing or mistyped field raises Rejected('malformed')."""
    try:
        protocol, limits = command["protocol"], command["limits"]
        raw_steps = protocol["steps"]
        if not isinstance(raw_steps, list) or not raw_steps:
            raise ValueError("no steps")
        loaded = LoadedProtocol(
            session_id=_text(command, "session_id"),
            expires_at=_aware_time(command["expires_at"]),
            sha256=_text(protocol, "sha256"),
            raw_steps=raw_steps,
            steps=tuple(
                Step(_number(step, "current_ua"), _number(step, "duration_s"), _polarity(step)) for step in raw_steps
            ),
            max_current_ua=_number(limits, "max_current_ua"),
            max_output_s=_number(limits, "max_output_s"),
        )
    except (KeyError, TypeError, ValueError):
        raise Rejected("malformed") from None
    if any(step.duration_s <= 0 for step in loaded.steps):
        raise Rejected("malformed")
    return loaded


def vet_load_protocol(loaded: LoadedProtocol, device_max_ua: float, now: datetime) -> None:
    """Raise Rejected for an expired, altered or too strong protocol, in the order the contract lists them."""
    if loaded.expires_at <= now:
        raise Rejected("expired")
    if steps_sha256(loaded.raw_steps) != loaded.sha256.lower():
        raise Rejected("bad_sha256")
    cap = min(device_max_ua, loaded.max_current_ua)
    if any(step.current_ua > cap for step in loaded.steps):
        raise Rejected("limits")
    if sum(step.duration_s for step in loaded.steps) > loaded.max_output_s:
        raise Rejected("limits")  # the session's output-time cap is a hard limit too


def sample_currents(current_ua: float, first_sample: int, count: int, polarity: str = "positive") -> list[float]:
    """Measured current for samples first_sample.. of a session: the set current plus a fixed sine 'noise', signed
    as the polarity has it (negative: below zero; alternating: +, −, +, … sample by sample)."""
    return [
        round(_sign(polarity, n) * current_ua * (1 + JITTER * math.sin(n)), 2)
        for n in range(first_sample, first_sample + count)
    ]


def _sign(polarity: str, sample: int) -> int:
    if polarity == "negative" or (polarity == "alternating" and sample % 2):
        return -1
    return 1


@dataclass(eq=False)
class Session:
    """One armed or running session: its message counter, its device clock, and the switch that halts it."""

    protocol: LoadedProtocol
    seq: int = 0
    t_ms: int = 0  # device time at the end of the last interval waited out
    step: int | None = None
    blocks: int = 0
    samples: int = 0
    contact_loss_s: float | None = None  # pending: taken after the next telemetry block
    halt: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    _mark: float = 0.0
    _interval_ms: int = 0

    @property
    def session_id(self) -> str:
        return self.protocol.session_id

    def begin_interval(self, ms: int) -> None:
        """Start waiting out ms of device time (a block of samples or a contact pause)."""
        self._mark, self._interval_ms = time.monotonic(), ms

    def end_interval(self) -> None:
        """The interval is over: the device clock moves on by exactly its length, whatever the real delay."""
        self.t_ms += self._interval_ms
        self._interval_ms = 0

    def now_ms(self, speed: float) -> int:
        """Device time now, for events that happen mid-interval (a stop)."""
        elapsed_ms = round((time.monotonic() - self._mark) * speed * 1000)
        return self.t_ms + min(elapsed_ms, self._interval_ms)


def _text(mapping: dict[str, Any], key: str) -> str:
    value = mapping[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


def _number(mapping: dict[str, Any], key: str) -> float:
    value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(key)
    return value


def _polarity(step: dict[str, Any]) -> str:
    polarity = step["polarity"]
    if polarity not in POLARITIES:
        raise ValueError("polarity")
    return str(polarity)


def _aware_time(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("times carry an offset")
    return moment
