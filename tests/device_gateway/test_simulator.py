"""The device simulator speaks device protocol v1: status and Will, commands and acks, sessions, misbehaviour.

The tests play the gateway with a paho client of their own on a private Mosquitto. The device sends everything
over one connection and the broker keeps that order, so once its final status has arrived, everything it sent
before is here too: no test waits for something not to happen.
"""

import json
import queue
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from device_gateway import topics
from device_gateway.simulated_session import sample_currents, steps_sha256
from device_gateway.simulator import MALFORMED_PAYLOAD, SimulatedDevice, Simulator
from tests.mqtt import WAIT_S, private_mosquitto
from tests.services import free_port

DEVICE = "room-1-probe"
SPEED = 100  # one simulated second every 10 ms
REPORTS = ("status", "acks", "events", "telemetry")


def step(current_ua: float, duration_s: float, polarity: str = "alternating") -> dict[str, Any]:
    return {
        "zone": "forehead",
        "mode": "LIFT",
        "current_ua": current_ua,
        "frequency_hz": 30,
        "waveform": "square",
        "polarity": polarity,
        "duration_s": duration_s,
    }


def load_protocol(
    steps: list[dict[str, Any]] | None = None,
    *,
    session_id: str | None = None,
    expires_in_s: float = 60,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid load_protocol command; overrides replace top-level fields."""
    steps = steps or [step(150, 3)]
    now = datetime.now(UTC)
    command = {
        "v": 1,
        "command_id": str(uuid.uuid4()),
        "type": "load_protocol",
        "session_id": session_id or str(uuid.uuid4()),
        "issued_at": now.isoformat(),
        "expires_at": (now + timedelta(seconds=expires_in_s)).isoformat(),
        "protocol": {"id": str(uuid.uuid4()), "version": 3, "sha256": steps_sha256(steps), "steps": steps},
        "limits": {
            "max_current_ua": round(max(s["current_ua"] for s in steps) * 1.1, 1),
            "max_output_s": round(sum(s["duration_s"] for s in steps) * 1.1, 1),
        },
    }
    return command | overrides


def stop(session_id: str | None) -> dict[str, Any]:
    return {"v": 1, "command_id": str(uuid.uuid4()), "type": "stop", "session_id": session_id, "reason": "test"}


class FakeGateway:
    """Plays the gateway for one device: collects what it reports, per topic leaf, and sends it commands."""

    def __init__(self, port: int, device_id: str = DEVICE) -> None:
        self.device_id = device_id
        self.reports: dict[str, queue.Queue[bytes]] = {leaf: queue.Queue() for leaf in REPORTS}
        self.session: queue.Queue[tuple[str, bytes]] = queue.Queue()  # events and telemetry, in arrival order
        subscribed = queue.Queue[bool]()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-gateway-{free_port()}")
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(topics.device_topic(device_id, leaf), 1) for leaf in REPORTS]
        )
        self.client.on_subscribe = lambda *_: subscribed.put(True)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        subscribed.get(timeout=WAIT_S)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        leaf, payload = message.topic.rsplit("/", 1)[1], bytes(message.payload)
        self.reports[leaf].put(payload)
        if leaf in ("events", "telemetry"):
            self.session.put((leaf, payload))

    def next(self, leaf: str) -> dict[str, Any]:
        return json.loads(self.reports[leaf].get(timeout=WAIT_S))

    def send(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send a command and return the device's ack to it."""
        self.client.publish(topics.device_topic(self.device_id, "commands"), json.dumps(command), qos=1)
        return self.next("acks")

    def states(self, until: str) -> list[str]:
        """The states reported up to and including the next `until`."""
        states = [self.next("status")["state"]]
        while states[-1] != until:
            states.append(self.next("status")["state"])
        return states

    def drain_session(self) -> list[tuple[str, bytes]]:
        """Every session message received so far; call after the status that ends the session."""
        messages = []
        while not self.session.empty():
            messages.append(self.session.get_nowait())
        return messages

    def quiet(self, *leaves: str) -> bool:
        return all(self.reports[leaf].empty() for leaf in leaves)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()  # loop_stop leaves paho's wake-up sockets to the garbage collector


def accepted(command: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "command_id": command["command_id"], "status": "accepted", "reason": None}


def seqs(messages: list[tuple[str, bytes]]) -> list[int]:
    return [json.loads(payload)["seq"] for _leaf, payload in messages]


@pytest.fixture
def broker_port(tmp_path: Path) -> Iterator[int]:
    with private_mosquitto(tmp_path) as port:
        yield port


@pytest.fixture
def gateway(broker_port: int) -> Iterator[FakeGateway]:
    fake = FakeGateway(broker_port)
    yield fake
    fake.close()


@pytest.fixture
def make_device(broker_port: int, gateway: FakeGateway) -> Iterator[Callable[..., SimulatedDevice]]:
    """Start a device after the gateway listens; its first (idle) status is consumed."""
    devices: list[SimulatedDevice] = []

    def make(**options: Any) -> SimulatedDevice:
        device = SimulatedDevice(DEVICE, "device-password", port=broker_port, speed=SPEED, **options)
        devices.append(device)
        device.start()
        assert gateway.next("status")["state"] == "idle"
        return device

    yield make
    for device in devices:
        device.stop()


def arm(gateway: FakeGateway, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    command = load_protocol(steps)
    assert gateway.send(command) == accepted(command)
    status = gateway.next("status")
    assert (status["state"], status["session_id"]) == ("armed", command["session_id"])
    return command


def run_session(gateway: FakeGateway, device: SimulatedDevice, steps: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """Arm, press start, wait for the device to be idle again; every session message it sent, in arrival order."""
    arm(gateway, steps)
    device.press_start()
    assert gateway.states(until="idle")[-1] == "idle"
    return gateway.drain_session()


def test_connect_publishes_a_retained_idle_status(broker_port: int, gateway: FakeGateway) -> None:
    device = SimulatedDevice(DEVICE, port=broker_port, max_current_ua=500, probe_area_cm2=0.8)
    device.start()
    try:
        status = gateway.next("status")
        assert datetime.fromisoformat(status.pop("ts")).utcoffset() is not None
        assert status == {
            "v": 1,
            "state": "idle",
            "session_id": None,
            "firmware": "sim-1.0",
            "probe_area_cm2": 0.8,
            "max_current_ua": 500,
        }
        late = FakeGateway(broker_port)  # joins late: sees the retained status
        try:
            assert late.next("status")["state"] == "idle"
        finally:
            late.close()
    finally:
        device.stop()
    assert gateway.reports["status"].get(timeout=WAIT_S) == topics.OFFLINE  # said on purpose by stop()


def test_the_will_says_offline_after_a_disconnect_and_reconnect_says_idle(
    gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]
) -> None:
    device = make_device()
    device.disconnect()
    assert gateway.reports["status"].get(timeout=WAIT_S) == topics.OFFLINE  # sent by the broker, not the device
    device.reconnect()
    assert gateway.next("status")["state"] == "idle"
    arm(gateway)  # still subscribed to its commands


def test_load_protocol_is_accepted_and_arms(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device()
    command = arm(gateway)
    assert (device.state, device.session_id) == ("armed", command["session_id"])


def _without(command: dict[str, Any], *path: str) -> dict[str, Any]:
    command = json.loads(json.dumps(command))
    *parents, leaf = path
    target = command
    for key in parents:
        target = target[key]
    del target[leaf]
    return command


@pytest.mark.parametrize(
    ("make_command", "reason"),
    [
        (lambda: load_protocol(expires_in_s=-1), "expired"),
        (lambda: load_protocol(expires_in_s=-1, limits={"max_current_ua": 1, "max_output_s": 1}), "expired"),
        (lambda: load_protocol() | {"protocol": load_protocol()["protocol"] | {"sha256": "0" * 64}}, "bad_sha256"),
        (
            lambda: (
                load_protocol([step(150, 3), step(400, 3)]) | {"limits": {"max_current_ua": 165, "max_output_s": 7}}
            ),
            "limits",
        ),  # above the session's cap
        (lambda: load_protocol([step(700, 3)]), "limits"),  # above the device's own 600 µA
        (lambda: load_protocol([step(150, 60)]) | {"limits": {"max_current_ua": 165, "max_output_s": 30}}, "limits"),
        (lambda: _without(load_protocol(), "limits"), "malformed"),
        (lambda: _without(load_protocol(expires_in_s=-1), "session_id"), "malformed"),  # malformed is checked first
        (lambda: _without(load_protocol(), "protocol", "steps"), "malformed"),
        (lambda: load_protocol(expires_at="2030-01-01T10:00:00"), "malformed"),  # no offset
        (lambda: load_protocol() | {"type": "self_destruct"}, "malformed"),
        (lambda: load_protocol([step(150, 3, polarity="both")]), "malformed"),
    ],
    ids=[
        "expired",
        "expired-before-limits",
        "bad_sha256",
        "limits-session",
        "limits-device",
        "limits-output-time",
        "no-limits",
        "no-session-id",
        "no-steps",
        "naive-time",
        "unknown-type",
        "unknown-polarity",
    ],
)
def test_rejections(
    gateway: FakeGateway,
    make_device: Callable[..., SimulatedDevice],
    make_command: Callable[[], dict[str, Any]],
    reason: str,
) -> None:
    device = make_device()
    command = make_command()
    assert gateway.send(command) == {
        "v": 1,
        "command_id": command["command_id"],
        "status": "rejected",
        "reason": reason,
    }
    assert gateway.quiet("status") and device.state == "idle"


def test_a_second_session_while_armed_is_busy(
    gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]
) -> None:
    device = make_device()
    first = arm(gateway)
    assert gateway.send(load_protocol())["reason"] == "busy"
    assert gateway.send(load_protocol([step(700, 3)]))["reason"] == "limits"  # checked before busy
    assert gateway.quiet("status") and device.session_id == first["session_id"]


def test_a_repeated_command_id_gets_the_same_answer_without_acting_again(
    gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]
) -> None:
    device = make_device()
    command = arm(gateway, [step(150, 600)])
    device.press_start()
    assert gateway.next("status")["state"] == "treating"
    assert gateway.send(command) == accepted(command)  # not "busy": the answer is remembered, not recomputed
    assert gateway.quiet("status") and device.state == "treating"
    busy = load_protocol()
    assert gateway.send(busy)["reason"] == "busy"
    halt = stop(command["session_id"])
    assert gateway.send(halt)["status"] == "executed"
    assert gateway.send(busy)["reason"] == "busy"  # the device is idle now, but a repeat is answered as before
    assert gateway.send(halt)["status"] == "executed"
    stopped = [json.loads(p) for leaf, p in gateway.drain_session() if leaf == "events" and b'"stopped"' in p]
    assert len(stopped) == 1


def test_a_session_from_start_to_completed(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device()
    command = arm(gateway, [step(150, 3), step(200, 2)])
    device.press_start()
    assert gateway.states(until="idle") == ["treating", "idle"]
    messages = [(leaf, json.loads(payload)) for leaf, payload in gateway.drain_session()]
    assert [m["seq"] for _leaf, m in messages] == list(range(1, 12))  # one counter for events and telemetry
    assert {m["session_id"] for _leaf, m in messages} == {command["session_id"]}
    events = [(m["type"], m["step"], m["t_ms"]) for leaf, m in messages if leaf == "events"]
    assert events == [
        ("started", None, 0),
        ("step_started", 0, 0),
        ("step_completed", 0, 3000),
        ("step_started", 1, 3000),
        ("step_completed", 1, 5000),
        ("completed", None, 5000),
    ]
    telemetry = [m for leaf, m in messages if leaf == "telemetry"]
    assert [(m["step"], m["t_ms"], m["interval_ms"], m["contact"]) for m in telemetry] == [
        (0, 0, 100, True),
        (0, 1000, 100, True),
        (0, 2000, 100, True),
        (1, 3000, 100, True),
        (1, 4000, 100, True),
    ]
    assert [m["current_ua"] for m in telemetry] == [  # the steps' polarity is alternating: +I, −I, ...
        sample_currents(150, 0, 10, "alternating"),
        sample_currents(150, 10, 10, "alternating"),
        sample_currents(150, 20, 10, "alternating"),
        sample_currents(200, 30, 10, "alternating"),
        sample_currents(200, 40, 10, "alternating"),
    ]
    assert all(abs(abs(sample) - 150) <= 0.75 for sample in telemetry[0]["current_ua"])  # ±0.5 %
    assert len(set(telemetry[0]["current_ua"])) > 1
    assert device.session_id is None


def test_contact_loss_pauses_the_session(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device()
    arm(gateway, [step(150, 3)])
    device.lose_contact(2)  # taken after the first block
    device.press_start()
    assert gateway.states(until="idle") == ["treating", "paused", "treating", "idle"]
    messages = [json.loads(payload) for _leaf, payload in gateway.drain_session()]
    assert [(m.get("type", "telemetry"), m["t_ms"]) for m in messages] == [
        ("started", 0),
        ("step_started", 0),
        ("telemetry", 0),
        ("contact_lost", 1000),
        ("contact_restored", 3000),
        ("telemetry", 3000),
        ("telemetry", 4000),
        ("step_completed", 5000),
        ("completed", 5000),
    ]
    assert [m["seq"] for m in messages] == list(range(1, 10))


def test_stop_mid_session(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device()
    command = arm(gateway, [step(150, 600)])  # six real seconds: far longer than the test
    device.press_start()
    assert gateway.next("status")["state"] == "treating"
    first_block = gateway.next("telemetry")
    halt = stop(command["session_id"])
    assert gateway.send(halt) == {"v": 1, "command_id": halt["command_id"], "status": "executed", "reason": None}
    assert gateway.states(until="idle") == ["idle"]  # sent before the ack: output was off when it said executed
    messages = [json.loads(payload) for _leaf, payload in gateway.drain_session()]
    last = messages[-1]
    assert (last["type"], last["step"], last["seq"]) == ("stopped", 0, len(messages))
    assert last["t_ms"] >= first_block["t_ms"] + 1000
    assert device.state == "idle" and device.wait_idle(0)


def test_stop_is_idempotent_and_stops_an_armed_device(
    gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]
) -> None:
    make_device()
    assert gateway.send(stop(None))["status"] == "executed"  # idle: nothing to stop, output is off
    command = arm(gateway)
    assert gateway.send(stop(str(uuid.uuid4())))["status"] == "executed"  # another session: not ours to end
    assert gateway.quiet("status", "events")
    assert gateway.send(stop(command["session_id"]))["status"] == "executed"
    assert gateway.next("status")["state"] == "idle"
    event = json.loads(gateway.drain_session()[0][1])
    assert (event["type"], event["seq"], event["t_ms"]) == ("stopped", 1, 0)


def test_press_start_needs_an_armed_device(make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device()
    with pytest.raises(RuntimeError, match="not armed"):
        device.press_start()


SIGNS = {"positive": [1] * 10, "negative": [-1] * 10, "alternating": [1, -1] * 5}


def signs(block: list[float]) -> list[int]:
    return [1 if sample > 0 else -1 for sample in block]


@pytest.mark.parametrize("polarity", SIGNS)
def test_samples_are_signed_as_the_steps_polarity(
    gateway: FakeGateway, make_device: Callable[..., SimulatedDevice], polarity: str
) -> None:
    device = make_device()
    messages = run_session(gateway, device, [step(150, 2, polarity)])
    blocks = [json.loads(payload)["current_ua"] for leaf, payload in messages if leaf == "telemetry"]
    assert [signs(block) for block in blocks] == [SIGNS[polarity]] * 2
    assert all(abs(abs(sample) - 150) <= 0.75 for block in blocks for sample in block)


@pytest.mark.parametrize("polarity", SIGNS)
def test_over_current_from_the_third_block(
    gateway: FakeGateway, make_device: Callable[..., SimulatedDevice], polarity: str
) -> None:
    device = make_device(over_current_ua=300)
    messages = run_session(gateway, device, [step(150, 4, polarity)])
    blocks = [json.loads(payload)["current_ua"] for leaf, payload in messages if leaf == "telemetry"]
    assert len(blocks) == 4
    assert all(max(map(abs, block)) < 151 for block in blocks[:2])
    assert all(min(map(abs, block)) > 165 for block in blocks[2:])  # above limits.max_current_ua in magnitude
    assert [signs(block) for block in blocks] == [SIGNS[polarity]] * 4  # with the step's own sign pattern


def test_duplicate_every(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device(duplicate_every=3)
    messages = run_session(gateway, device, [step(150, 3)])
    assert seqs(messages) == [1, 2, 3, 3, 4, 5, 6, 6, 7]
    assert messages[2] == messages[3] and messages[6] == messages[7]  # the same message again, byte for byte


def test_reorder(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device(reorder=True)
    assert seqs(run_session(gateway, device, [step(150, 3)])) == [2, 1, 4, 3, 6, 5, 7]


def test_drop_seq(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device(drop_seq={2, 5})
    assert seqs(run_session(gateway, device, [step(150, 3)])) == [1, 3, 4, 6, 7]


def test_malformed_every(gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]) -> None:
    device = make_device(malformed_every=3)
    messages = run_session(gateway, device, [step(150, 3)])
    assert [payload for _leaf, payload in messages].count(MALFORMED_PAYLOAD) == 2
    broken = [index for index, (_leaf, payload) in enumerate(messages) if payload == MALFORMED_PAYLOAD]
    assert broken == [3, 7] and all(messages[index][0] == "telemetry" for index in broken)
    with pytest.raises(json.JSONDecodeError):
        json.loads(MALFORMED_PAYLOAD)
    good = [message for index, message in enumerate(messages) if index not in broken]
    assert seqs(good) == list(range(1, 8))


def test_messages_sent_while_disconnected_arrive_after_reconnect(
    gateway: FakeGateway, make_device: Callable[..., SimulatedDevice]
) -> None:
    device = make_device()
    arm(gateway, [step(150, 3)])
    device.disconnect()
    assert gateway.reports["status"].get(timeout=WAIT_S) == topics.OFFLINE
    device.press_start()
    assert device.wait_idle()  # the whole session ran while offline
    device.reconnect()  # paho sends the QoS 1 messages it queued meanwhile, after a fresh status
    seen: set[int] = set()
    while seen != set(range(1, 8)):
        seen |= set(seqs([gateway.session.get(timeout=WAIT_S)]))


def test_simulator_starts_and_stops_devices(broker_port: int) -> None:
    watcher = FakeGateway(broker_port, device_id="+")
    try:
        with Simulator([("a", None), ("b", "pw")], port=broker_port, speed=SPEED) as simulator:
            assert [watcher.next("status")["state"] for _ in range(2)] == ["idle", "idle"]
            assert simulator["a"].state == simulator["b"].state == "idle"
        assert [watcher.reports["status"].get(timeout=WAIT_S) for _ in range(2)] == [topics.OFFLINE] * 2
    finally:
        watcher.close()
