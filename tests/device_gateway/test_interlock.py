"""The interlock's decision alone, in memory: a block is stopped exactly when a sample is over its cap in magnitude."""

import json
import math
import uuid
from collections import Counter
from typing import Any, NamedTuple

from hypothesis import event, given
from hypothesis import strategies as st

from device_gateway import topics
from device_gateway.interlock import Interlock, _watch
from device_gateway.messages import Telemetry

MQTT_ID = "gd-1"
finite = st.floats(allow_nan=False, allow_infinity=False)


class Stored(NamedTuple):
    """The columns of a session the interlock reads when it starts to watch it."""

    mqtt_id: str
    device_id: uuid.UUID
    tolerance_percent: int
    max_current_ua: float
    max_output_s: int
    steps: list[dict[str, Any]]


class Published(list[tuple[str, bytes]]):
    """A `publish` that records what it was given, as the MQTT client would take it."""

    def __call__(self, topic: str, payload: bytes) -> bool:
        self.append((topic, payload))
        return True


@st.composite
def blocks(draw: st.DrawFn) -> tuple[Stored, Telemetry, float]:
    """A session's limits as stored, a block of it with any finite samples, and the cap its samples are held to."""
    currents = draw(st.lists(st.floats(min_value=1, max_value=1000), min_size=1, max_size=4))
    tolerance = draw(st.integers(min_value=0, max_value=50))
    highest_cap = max(currents) * (1 + tolerance / 100)  # the limit the API arms a session with
    max_current = draw(st.one_of(st.just(highest_cap), st.floats(min_value=1, max_value=1500)))
    step = draw(st.integers(min_value=0, max_value=len(currents)))  # one past the last: a step it was not armed with
    cap = min(currents[step] * (1 + tolerance / 100), max_current) if step < len(currents) else 0.0
    edges = [cap, math.nextafter(cap, math.inf), math.nextafter(cap, 0), 0.0]  # where an off-by-one would show
    within = st.floats(min_value=-cap, max_value=cap)  # so that many a block is not over
    sample = st.one_of(finite, within, st.tuples(st.sampled_from([1, -1]), st.sampled_from(edges)).map(math.prod))
    samples = draw(st.lists(sample, min_size=1, max_size=1000))
    row = Stored(
        MQTT_ID,
        draw(st.uuids()),
        tolerance,
        max_current,
        10**9,  # output time is not what is tested here
        [{"current_ua": current} for current in currents],
    )
    block = Telemetry(
        MQTT_ID, draw(st.uuids()), draw(st.integers(1, 2**31 - 1)), step, 0, 100, tuple(samples), draw(st.booleans())
    )
    return row, block, cap


@given(blocks())
def test_a_stop_is_published_exactly_when_a_sample_is_over_its_cap_in_magnitude(
    case: tuple[Stored, Telemetry, float],
) -> None:
    row, block, cap = case
    published = Published()
    interlock = Interlock(Counter(), published, _watches={block.session_id: _watch(row)})  # type: ignore[arg-type]
    interlock.check(block)
    over = any(abs(sample) > cap for sample in block.current_ua)
    event("over" if over else "within")
    stop = (topics.device_topic(MQTT_ID, "commands"), "stop", "over_current", str(block.session_id))
    assert [
        (topic, *(json.loads(payload)[key] for key in ("type", "reason", "session_id"))) for topic, payload in published
    ] == ([stop] if over else [])
    assert interlock.counters["interlock_stops"] == int(over)


def test_a_seq_no_session_reaches_is_checked_but_not_counted() -> None:
    """A device that numbers its blocks wildly cannot grow what the gateway keeps, nor run up the session's output
    time; an over-current in such a block still stops it."""
    row = Stored(MQTT_ID, uuid.uuid4(), 10, 220.0, 30, [{"current_ua": 200.0}])
    watch = _watch(row)  # type: ignore[arg-type]
    session_id, published = uuid.uuid4(), Published()
    interlock = Interlock(Counter(), published, _watches={session_id: watch})
    for seq in range(watch.highest_seq + 1, watch.highest_seq + 1001):
        interlock.check(Telemetry(MQTT_ID, session_id, seq, 0, 0, 100, (200.0,) * 10, True))
    assert (watch.counted, watch.output_s, published) == (set(), 0.0, [])
    interlock.check(Telemetry(MQTT_ID, session_id, 2**31 - 1, 0, 0, 100, (-400.0,), True))
    assert [json.loads(payload)["reason"] for _topic, payload in published] == ["over_current"]
