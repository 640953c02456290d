"""Stand-in devices for starts and stops: one paho client answering for many device ids."""

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt

from bench.common import LOOPBACK
from bench.gateway.settings import MAX_OUTSTANDING, OVER_CURRENT_UA, WAIT_S
from bench.gateway.support import new_client, telemetry_block
from device_gateway import simulated_messages, topics

FIRMWARE = "bench"
PROBE_AREA_CM2 = 0.5  # as bench/gateway/database.py registers every device
MAX_CURRENT_UA = 600


class StandInDevices:
    """One paho client answering for many device ids: records every command with its arrival time and
    answers it as the simulator does (load_protocol: accepted, status armed; stop: executed, a `stopped`
    event, status idle). Also publishes their status and session messages. Every payload is built by
    device_gateway/simulated_messages.py, as the simulator's are.

    Not device_gateway/simulator.py's SimulatedDevice on purpose: that is one paho client, with its own network
    thread, per device, and runs its session's telemetry itself. Here over 200 device ids share one client, so
    that the load generator takes as little as it can of the two cores it shares with what it measures, and
    commands are answered at once, as they were in every run recorded in docs/benchmarks.md."""

    def __init__(self, port: int) -> None:
        self.gateway_online = threading.Event()
        self.arrivals: dict[tuple[str, str], float] = {}  # (device_id, command type) -> first arrival
        self.command_counts: Counter[str] = Counter()
        self.sessions: dict[str, str] = {}  # device_id -> session_id it was armed for
        self._seq: Counter[str] = Counter()  # session_id -> last seq sent
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self.client = new_client(f"bench-devices-{uuid.uuid4().hex[:6]}")
        self.client.max_inflight_messages_set(MAX_OUTSTANDING)
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(topics.device_topic("+", "commands"), 1), (topics.GATEWAY_STATUS, 1)]
        )
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(LOOPBACK, port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(WAIT_S):
            raise RuntimeError("the stand-in devices did not subscribe")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        arrived = time.perf_counter()
        body = json.loads(message.payload)
        if message.topic == topics.GATEWAY_STATUS:
            if body.get("state") == "online":
                self.gateway_online.set()
            return
        device_id, kind, session_id = message.topic.split("/")[3], body["type"], body.get("session_id")
        with self._lock:
            self.command_counts[kind] += 1
            if kind == "load_protocol":
                self.sessions.setdefault(device_id, session_id)
            self.arrivals.setdefault((device_id, kind), arrived)
            self._lock.notify_all()
        answer = "accepted" if kind == "load_protocol" else "executed"
        self._publish(device_id, "acks", simulated_messages.ack(body["command_id"], answer))
        if kind == "load_protocol":
            self.status(device_id, "armed", session_id)
        else:
            self.event(device_id, session_id, "stopped")
            self.status(device_id, "idle")

    def wait_for(self, device_id: str, kind: str, timeout: float = WAIT_S) -> float | None:
        """When the first command of that kind reached the device (perf_counter), or None after timeout."""
        with self._lock:
            self._lock.wait_for(lambda: (device_id, kind) in self.arrivals, timeout)
            return self.arrivals.get((device_id, kind))

    def status(self, device_id: str, state: str, session_id: str | None = None) -> None:
        """Publish the device's retained status."""
        payload = simulated_messages.status(
            state, session_id, firmware=FIRMWARE, probe_area_cm2=PROBE_AREA_CM2, max_current_ua=MAX_CURRENT_UA
        )
        self._publish(device_id, "status", payload, retain=True)

    def next_seq(self, session_id: str) -> int:
        with self._lock:
            self._seq[session_id] += 1
            return self._seq[session_id]

    def event(self, device_id: str, session_id: str, kind: str) -> None:
        """Publish the session's next message: an event of that kind, at its start."""
        payload = simulated_messages.event(session_id, self.next_seq(session_id), kind, step=None, t_ms=0)
        self._publish(device_id, "events", payload)

    def over_current(self, device_id: str, session_id: str) -> float:
        """Start output, then send a block above the cap; returns when it was handed to paho."""
        self.event(device_id, session_id, "started")
        payload = telemetry_block(session_id, self.next_seq(session_id), OVER_CURRENT_UA)
        sent = time.perf_counter()
        self._publish(device_id, "telemetry", payload)
        return sent

    def _publish(self, device_id: str, leaf: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topics.device_topic(device_id, leaf), payload, qos=1, retain=retain)
