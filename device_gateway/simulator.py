"""Simulated two-probe microcurrent devices that speak device protocol v1 (shared/device-protocol.md) exactly.

For tests, demos and benchmarks. Each SimulatedDevice owns one paho client and sets every callback in one place;
a session runs in a thread of its own. `speed` makes simulated seconds pass that many times faster in real time,
while every t_ms stays device time. Misbehaviour switches break the contract on purpose, to test the gateway.
"""

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from device_gateway import simulated_messages, topics
from device_gateway.simulated_session import (
    BLOCK_SAMPLES,
    SAMPLE_INTERVAL_MS,
    Rejected,
    Session,
    Step,
    parse_load_protocol,
    sample_currents,
    vet_load_protocol,
)

logger = logging.getLogger(__name__)
FIRMWARE = "sim-1.0"
KEEPALIVE_S = 10
CONNECT_TIMEOUT_S = 10.0
STATUS, ACKS, EVENTS, TELEMETRY, COMMANDS = "status", "acks", "events", "telemetry", "commands"
MALFORMED_PAYLOAD = b'{"v":1,"session_id":'  # cut-off JSON, as a buggy or truncated send would look


class SimulatedDevice:
    """One device: reports its status, answers commands, runs a session when start is pressed on it.

    Misbehaviour switches (keyword arguments, also plain attributes that may be changed at any time):
    - over_current_ua: from the 3rd telemetry block of a session on, the samples are at this current instead (in
      magnitude: signed as the step's polarity has them, like every sample).
    - duplicate_every: every message whose seq is a multiple of n is sent twice (same seq, same bytes).
    - reorder: session messages go out in swapped pairs (seq 2, 1, 4, 3, ...).
    - malformed_every: after every message whose seq is a multiple of n, invalid JSON goes to its telemetry topic.
    - drop_seq: these seqs are counted but never sent, leaving a gap.
    - disconnect() / reconnect(): lose the connection the way a crash does (the broker sends the Will), come back.
    """

    def __init__(
        self,
        device_id: str,
        password: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        speed: float = 1.0,
        probe_area_cm2: float = 0.5,
        max_current_ua: float = 600,
        over_current_ua: float | None = None,
        duplicate_every: int | None = None,
        reorder: bool = False,
        malformed_every: int | None = None,
        drop_seq: Iterable[int] = (),
        tls: ssl.SSLContext | None = None,  # mqtts://: TLS, the broker's certificate checked as the context says
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.device_id, self.host, self.port, self.speed = device_id, host, port, speed
        self.probe_area_cm2, self.max_current_ua = probe_area_cm2, max_current_ua
        self.over_current_ua, self.duplicate_every, self.reorder = over_current_ua, duplicate_every, reorder
        self.malformed_every, self.drop_seq = malformed_every, set(drop_seq)
        self.online = threading.Event()  # connected and subscribed: commands will reach it
        self.idle = threading.Event()  # no session armed or running
        self.idle.set()
        self.gateway_online: bool | None = None  # from clinic/v1/gateway/status; None until heard
        self.refused: ReasonCode | None = None  # why the broker refused the last CONNECT (a wrong password)
        # Guards state, session, answers and the order of session messages. Publishing while holding it is safe:
        # paho 2 runs our callbacks holding no lock that publish() needs.
        self._lock = threading.RLock()
        self._state = "idle"
        self._session: Session | None = None
        self._answers: dict[str, bytes] = {}  # command_id -> the ack sent, to answer a repeat identically
        self._held: tuple[str, bytes, int] | None = None  # reorder: the first message of a pair
        self._client = self._make_client(password, tls)

    def _make_client(self, password: str | None, tls: ssl.SSLContext | None) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.device_id, clean_session=False, protocol=mqtt.MQTTv311
        )
        client.username_pw_set(self.device_id, password)
        if tls is not None:
            client.tls_set_context(tls)
        client.will_set(self._topic(STATUS), topics.OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    @property
    def session_id(self) -> str | None:
        with self._lock:
            return self._session.session_id if self._session else None

    def start(self, timeout: float | None = CONNECT_TIMEOUT_S) -> None:
        """Connect in the background; wait until subscribed unless timeout is None. paho reconnects after a loss."""
        self._client.connect_async(self.host, self.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        if timeout is not None and not self.online.wait(timeout):
            raise TimeoutError(f"{self.device_id} did not connect to {self.host}:{self.port}")

    def stop(self) -> None:
        """Switch off: output ends without events, status says offline (the Will is for crashes), clean DISCONNECT."""
        with self._lock:
            session, self._session, self._held = self._session, None, None
            self._state = "offline"
            if session is not None:
                session.halt.set()
            published = self._publish_status() if self.online.is_set() else None
        if session is not None and session.thread is not None:
            session.thread.join(CONNECT_TIMEOUT_S)
        if published is not None:
            with contextlib.suppress(RuntimeError, ValueError):  # the connection went meanwhile: nothing to wait for
                published.wait_for_publish(CONNECT_TIMEOUT_S)
        self._client.disconnect()
        self._client.loop_stop()
        self._release_wakeup_sockets()
        self.online.clear()
        self.idle.set()

    def disconnect(self) -> None:
        """Drop the connection like a crash or a pulled cable: no DISCONNECT, so the broker sends the Will."""
        sock = self._client.socket()
        if isinstance(sock, socket.socket):  # paho's TLS and websocket wrappers are sockets underneath too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the broker sees the TCP close first ...
        self._client.disconnect()  # ... so this only keeps paho from reconnecting; its DISCONNECT cannot get out
        self._client.loop_stop()
        self.online.clear()

    def reconnect(self, timeout: float | None = CONNECT_TIMEOUT_S) -> None:
        """Come back after disconnect(): same client id and broker session; status is published again on connect."""
        self._release_wakeup_sockets()  # loop_start makes a new pair
        self.start(timeout)

    def press_start(self) -> None:
        """The esthetician presses start on the armed device: the session runs in a background thread."""
        with self._lock:
            session = self._session
            if session is None or self._state != "armed":
                raise RuntimeError(f"{self.device_id} is {self._state}, not armed")
            self._set_state("treating")
            session.thread = threading.Thread(
                target=self._run, args=(session,), daemon=True, name=f"simulated-{self.device_id}"
            )
            session.thread.start()

    def lose_contact(self, seconds: float) -> None:
        """The probes lose contact for `seconds` of device time, right after the next telemetry block."""
        with self._lock:
            if self._session is None or self._state not in ("armed", "treating"):
                raise RuntimeError(f"{self.device_id} is {self._state}: no output to lose contact during")
            self._session.contact_loss_s = seconds

    def wait_idle(self, timeout: float = CONNECT_TIMEOUT_S) -> bool:
        """Wait until no session is armed or running."""
        return self.idle.wait(timeout)

    # MQTT callbacks (paho's network thread)

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        self.refused = reason if reason.is_failure else None
        if reason.is_failure:
            logger.error("broker refused %s: %s", self.device_id, reason)
            return
        client.subscribe([(self._topic(COMMANDS), 1), (topics.GATEWAY_STATUS, 1)])
        with self._lock:
            self._publish_status()

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _properties: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            logger.error("%s may not subscribe to its commands: %s", self.device_id, reasons)
            return
        self.online.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        self.online.clear()
        logger.info("%s disconnected: %s", self.device_id, reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        body = _json_object(bytes(message.payload))
        if message.topic == topics.GATEWAY_STATUS:
            self.gateway_online = body.get("state") == "online"
            return
        command_id = body.get("command_id")
        if not isinstance(command_id, str) or not command_id:
            logger.warning("%s dropped a command it cannot answer (no command_id)", self.device_id)
            return
        with self._lock:
            if command_id not in self._answers:  # a repeat gets the same answer and is not acted on again
                self._answers[command_id] = self._execute(command_id, body)
            self._client.publish(self._topic(ACKS), self._answers[command_id], qos=1)

    # Commands (called under the lock)

    def _execute(self, command_id: str, command: dict[str, Any]) -> bytes:
        kind = command.get("type")
        if command.get("v") != 1 or kind not in ("load_protocol", "stop"):
            return simulated_messages.ack(command_id, "rejected", "malformed")
        if kind == "stop":
            self._stop(command.get("session_id"))
            return simulated_messages.ack(command_id, "executed")
        try:
            self._arm(command)
        except Rejected as rejected:
            return simulated_messages.ack(command_id, "rejected", rejected.reason)
        return simulated_messages.ack(command_id, "accepted")

    def _arm(self, command: dict[str, Any]) -> None:
        protocol = parse_load_protocol(command)
        vet_load_protocol(protocol, self.max_current_ua, datetime.now(UTC))
        rearm = self._state == "armed" and self._session is not None and self._session.session_id == protocol.session_id
        if self._state != "idle" and not rearm:  # re-arming the same session before start is harmless
            raise Rejected("busy")
        self._session, self._held = Session(protocol), None
        self.idle.clear()
        self._set_state("armed")

    def _stop(self, session_id: Any) -> None:
        session = self._session
        if session is not None and session_id in (None, session.session_id):  # no session_id: stop whatever runs
            self._end_session(session, "stopped", session.step, session.now_ms(self.speed))

    # The session (its own thread)

    def _run(self, session: Session) -> None:
        if not self._event(session, "started", None, 0):
            return
        for index, step in enumerate(session.protocol.steps):
            if not self._run_step(session, index, step):
                return  # stopped meanwhile: the stop already sent the last event
        with self._lock:
            if self._session is session:
                self._end_session(session, "completed", None, session.t_ms)

    def _run_step(self, session: Session, index: int, step: Step) -> bool:
        session.step = index
        if not self._event(session, "step_started", index, session.t_ms):
            return False
        remaining = step.samples
        while remaining > 0:
            count = min(BLOCK_SAMPLES, remaining)
            if not self._measure_block(session, index, step, count) or not self._lose_contact_if_due(session, index):
                return False
            remaining -= count
        return self._event(session, "step_completed", index, session.t_ms)

    def _measure_block(self, session: Session, index: int, step: Step, count: int) -> bool:
        if not self._wait(session, count * SAMPLE_INTERVAL_MS):
            return False
        with self._lock:
            current = (
                self.over_current_ua if self.over_current_ua is not None and session.blocks >= 2 else step.current_ua
            )
            samples = sample_currents(current, session.samples, count, step.polarity)
            sent = self._emit(
                session,
                TELEMETRY,
                lambda seq: simulated_messages.telemetry(
                    session.session_id, seq, step=index, t_ms=session.t_ms, current_ua=samples
                ),
            )
            session.end_interval()
            session.blocks, session.samples = session.blocks + 1, session.samples + count
            return sent

    def _lose_contact_if_due(self, session: Session, index: int) -> bool:
        with self._lock:
            seconds, session.contact_loss_s = session.contact_loss_s, None
            if seconds is None:
                return True
            if not self._event(session, "contact_lost", index, session.t_ms):
                return False
            self._set_state("paused")
        if not self._wait(session, round(seconds * 1000)):  # no output, so the step's time is not used up
            return False
        with self._lock:
            session.end_interval()
            if not self._event(session, "contact_restored", index, session.t_ms):
                return False
            self._set_state("treating")
            return True

    def _wait(self, session: Session, ms: int) -> bool:
        """Let ms of device time pass (speed times faster in real time); False if the session was halted."""
        with self._lock:
            session.begin_interval(ms)
        return not session.halt.wait(ms / 1000 / self.speed)

    def _end_session(self, session: Session, kind: str, step: int | None, t_ms: int) -> None:
        """Send the session's last event, then go idle; called under the lock while the session is current."""
        self._event(session, kind, step, t_ms)
        self._flush_held()
        session.halt.set()
        self._session = None
        self._set_state("idle")
        self.idle.set()

    # Sending

    def _event(self, session: Session, kind: str, step: int | None, t_ms: int) -> bool:
        return self._emit(
            session, EVENTS, lambda seq: simulated_messages.event(session.session_id, seq, kind, step=step, t_ms=t_ms)
        )

    def _emit(self, session: Session, leaf: str, build: Callable[[int], bytes]) -> bool:
        """Number one message about the session, build it with that seq and send it; False if the session is no
        longer current."""
        with self._lock:
            if self._session is not session:
                return False
            session.seq += 1
            self._send_numbered(leaf, build(session.seq), session.seq)
            return True

    def _send_numbered(self, leaf: str, payload: bytes, seq: int) -> None:
        """Send a session message through the misbehaviour switches (drop, then reorder, then duplicate)."""
        if seq in self.drop_seq:
            return
        if not self.reorder:
            self._send_copies(leaf, payload, seq)
        elif self._held is None:
            self._held = (leaf, payload, seq)
        else:
            held, self._held = self._held, None
            self._send_copies(leaf, payload, seq)
            self._send_copies(*held)

    def _flush_held(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._send_copies(*held)

    def _send_copies(self, leaf: str, payload: bytes, seq: int) -> None:
        copies = 2 if self.duplicate_every and seq % self.duplicate_every == 0 else 1
        for _ in range(copies):
            self._client.publish(self._topic(leaf), payload, qos=1)
        if self.malformed_every and seq % self.malformed_every == 0:
            self._client.publish(self._topic(TELEMETRY), MALFORMED_PAYLOAD, qos=1)

    def _set_state(self, state: str) -> None:
        self._state = state
        self._publish_status()

    def _publish_status(self) -> mqtt.MQTTMessageInfo:
        """Publish the retained status; called under the lock so that status and state agree."""
        if self._state == "offline":
            payload = topics.OFFLINE
        else:
            payload = simulated_messages.status(
                self._state,
                self.session_id,
                firmware=FIRMWARE,
                probe_area_cm2=self.probe_area_cm2,
                max_current_ua=self.max_current_ua,
            )
        return self._client.publish(self._topic(STATUS), payload, qos=1, retain=True)

    def _release_wakeup_sockets(self) -> None:
        """Close the socket pair paho's loop_stop() leaves open until the client is garbage collected."""
        self._client._reset_sockets(sockpair_only=True)

    def _topic(self, leaf: str) -> str:
        return topics.device_topic(self.device_id, leaf)


class Simulator:
    """Several simulated devices on one broker, started and stopped together; options go to every device."""

    def __init__(
        self,
        devices: Iterable[tuple[str, str | None]],
        host: str = "127.0.0.1",
        port: int = 1883,
        speed: float = 1.0,
        **options: Any,
    ) -> None:
        self.devices = {
            device_id: SimulatedDevice(device_id, password, host=host, port=port, speed=speed, **options)
            for device_id, password in devices
        }

    def __getitem__(self, device_id: str) -> SimulatedDevice:
        return self.devices[device_id]

    def start(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Connect every device at once, then wait until all are subscribed."""
        for device in self.devices.values():
            device.start(timeout=None)
        deadline = time.monotonic() + timeout
        for device in self.devices.values():
            if not device.online.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{device.device_id} did not connect")

    def stop(self) -> None:
        """Switch every device off: offline status first, then a clean disconnect."""
        for device in self.devices.values():
            device.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _json_object(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object, or {} when it is not one (a receiver must never fail on bad input)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
