"""What a simulated device sends: the payloads of device protocol v1 (shared/device-protocol.md), built in one place.

The simulator's devices and the benchmark's stand-in devices send these bytes: compact JSON with `"v": 1` first
and the fields in the order the protocol document shows them. Topics, sequence numbers and when to send are theirs.
"""

import json
from datetime import UTC, datetime
from typing import Any

from device_gateway.simulated_session import SAMPLE_INTERVAL_MS


def ack(command_id: str, status: str, reason: str | None = None) -> bytes:
    """The answer to a command: accepted, rejected (with the contract's reason) or executed."""
    return _compact({"v": 1, "command_id": command_id, "status": status, "reason": reason})


def status(state: str, session_id: str | None, *, firmware: str, probe_area_cm2: float, max_current_ua: float) -> bytes:
    """The retained status of a device that is on, stamped now; offline is topics.OFFLINE, the Will's payload."""
    return _compact(
        {
            "v": 1,
            "state": state,
            "session_id": session_id,
            "firmware": firmware,
            "probe_area_cm2": probe_area_cm2,
            "max_current_ua": max_current_ua,
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
    )


def event(session_id: str, seq: int, kind: str, *, step: int | None, t_ms: int) -> bytes:
    """What happened in a session (its `type` is kind), t_ms into it; a simulated device gives no detail."""
    return _compact(
        {"v": 1, "session_id": session_id, "seq": seq, "type": kind, "step": step, "t_ms": t_ms, "detail": None}
    )


def telemetry(session_id: str, seq: int, *, step: int, t_ms: int, current_ua: list[float]) -> bytes:
    """A block of samples measured with the probes in contact, SAMPLE_INTERVAL_MS apart from t_ms on."""
    return _compact(
        {
            "v": 1,
            "session_id": session_id,
            "seq": seq,
            "step": step,
            "t_ms": t_ms,
            "interval_ms": SAMPLE_INTERVAL_MS,
            "current_ua": current_ua,
            "contact": True,
        }
    )


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
