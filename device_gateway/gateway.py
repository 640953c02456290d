"""The gateway: one class owns the paho client and sets every callback in one place.

The paho network thread parses, holds each telemetry block to its session's limits (publishing a stop at
once, without the database) and queues; a worker writes batches to the database, and a sender publishes the
outbox, renews the lease and tells the API, through the database, how the gateway is. Neither blocks the
network thread, and no exception reaches it. A QoS 1 message is acknowledged to the broker only once the
batch holding it is committed, so a gateway killed in between gets it again from its persistent session.

Two gateways may run at once, each with its own client id: the one holding the lease (lease.py) is active,
the other a standby that receives the same messages, keeps the last STANDBY_WINDOW of them, and takes over
within the lease's time to live when the active one dies, writing that window first so nothing is lost.
"""

import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.session import transaction
from device_gateway import topics
from device_gateway.broker_url import BrokerAddress
from device_gateway.ingest import Ingest
from device_gateway.lease import Lease
from device_gateway.messages import DeviceMessage, Malformed, Telemetry, parse
from device_gateway.offline_alarms import OfflineAlarms
from device_gateway.outage import Outage
from device_gateway.outbox_sender import OutboxSender
from device_gateway.reporting import Every, HealthFile, Presence

logger = logging.getLogger(__name__)
KEEPALIVE_S = 10
CLIENT_ID = "galvani-gateway"
CONNECT_TIMEOUT_S = 10.0
POLL_S = 0.1  # the outbox is looked at least this often, and at once when a command is written
BATCH_MAX = 500
DATABASE_RETRY_S = 0.5
HOUSEKEEPING_S = 1.0  # how often the worker interrupts sessions whose device is lost for good
LEASE_EVERY_S = 1.0  # the lease lasts 3 s: renewed three times in its life, taken over within 4 s
HEALTH_EVERY_S = 1.0
STANDBY_WINDOW_S = 30.0  # what a standby keeps: more than a takeover takes, so the gap is written once it leads
LOST_DEVICE_PATIENCE_S = 5.0  # a device offline this long mid-session is lost (Wills say so at once)
BROKER_OUTAGE_PATIENCE_S = 30.0  # around the gateway's own loss of the broker: a device's keepalive and more
RESTARTS_ALLOWED = 5  # a thread that fails this often in a minute cannot recover: the gateway is down
RESTART_AFTER_S = 1.0
FAILURE_SHOWN_S = 60.0  # a thread that failed and was started again is reported this long

Inbound = tuple[int, int, DeviceMessage | None]  # (mid, qos, message); None for one dropped as malformed


class Gateway:
    """Announces itself with a retained status and a Last Will; with a database, carries the device traffic."""

    def __init__(
        self,
        broker: BrokerAddress,
        session_factory: sessionmaker[Session] | None = None,
        client_id: str = CLIENT_ID,
        health_file: Path | None = None,
        clinic_timezone: str = "UTC",
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.connected = threading.Event()
        self.active = threading.Event()  # holds the lease: writes, sends, and guards sessions
        self.fatal = threading.Event()  # a part failed for good: the supervisor should restart the process
        self.ingest = Ingest(publish=self._publish_now)
        self.counters: Counter[str] = self.ingest.counters
        self._factory = session_factory
        self._lease = Lease(session_factory, client_id) if session_factory is not None else None
        self._presence = Presence(session_factory, client_id, self.counters) if session_factory is not None else None
        self._outbox = OutboxSender(session_factory, self._publish) if session_factory is not None else None
        self._health_file = HealthFile(health_file) if health_file is not None else None
        self.offline_alarms = OfflineAlarms(default_timezone=clinic_timezone)
        self._inbox: deque[Inbound] = deque()  # appends and pops are thread-safe
        self._standby_window: deque[tuple[float, DeviceMessage]] = deque()
        self._arrived = threading.Event()
        self._stopping = threading.Event()
        self._broker_dropped_seen = 0
        self._broker_changed = float("-inf")  # when the gateway's own link to the broker was last lost or regained
        self._was_connected = False
        self._broker_lost_at: datetime | None = utcnow()
        self._database = Outage(logger, "database")
        self._failed_parts: dict[str, datetime] = {}  # thread -> when it last failed
        self._guard_all = True  # watch every session in progress at the next chance (start, takeover, outage)
        self._threads: list[threading.Thread] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls is not None:
            self._client.tls_set_context(broker.tls)
        self._client.will_set(topics.GATEWAY_STATUS, topics.OFFLINE, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a loss."""
        if self._factory is not None:
            self._threads = [
                threading.Thread(
                    target=self._supervised, args=("worker", self._work), name="gateway-ingest", daemon=True
                ),
                threading.Thread(
                    target=self._supervised, args=("sender", self._send), name="gateway-outbox", daemon=True
                ),
            ]
            for thread in self._threads:
                thread.start()
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        if not self.connected.wait(CONNECT_TIMEOUT_S):
            logger.warning(
                "gateway not yet connected to %s:%d; retrying in the background", self.broker.host, self.broker.port
            )

    def stop(self) -> None:
        """Finish what was received, say offline on purpose (the Will is only for crashes), disconnect."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._outbox is not None:
            self._outbox.wakeup.wake()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.connected.is_set():
            self._client.publish(topics.GATEWAY_STATUS, topics.OFFLINE, qos=1, retain=True).wait_for_publish(5)
        self._client.disconnect()
        self._client.loop_stop()
        self._client._reset_sockets(sockpair_only=True)  # loop_stop leaves its wake-up pair open until collected

    def health(self) -> dict[str, Any]:
        """`ok`, `degraded` with each part that does not work and since when, or `down` (restart me)."""
        shown_after = utcnow() - timedelta(seconds=FAILURE_SHOWN_S)
        problems = {part: at for part, at in self._failed_parts.items() if at > shown_after}
        if not self.connected.is_set() and self._broker_lost_at is not None:
            problems["broker"] = self._broker_lost_at
        if self._database.since is not None:
            problems["database"] = self._database.since
        status = "down" if self.fatal.is_set() else "degraded" if problems else "ok"
        return {
            "status": status,
            "role": "active" if self.active.is_set() else "standby",
            "problems": [{"part": part, "since": since.isoformat()} for part, since in sorted(problems.items())],
        }

    # --- the network thread ---------------------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        if reason.is_failure:
            logger.error("broker refused the gateway: %s", reason)
            return
        _send_small_packets_at_once(client)
        if self._outbox is not None:  # subscribe on every connect: the broker may have lost the session
            client.subscribe([(topic, 1) for topic in topics.DEVICE_REPORTS] + [(topics.BROKER_DROPPED, 0)])
            self._outbox.resend_unanswered()
        client.publish(topics.GATEWAY_STATUS, topics.ONLINE, qos=1, retain=True)
        if self._was_connected:  # back after a loss; a first connect is no outage
            self._broker_changed = time.monotonic()
        self._was_connected, self._broker_lost_at = True, None
        self.connected.set()
        logger.info("gateway connected to %s:%d", self.broker.host, self.broker.port)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        self.connected.clear()
        self._broker_changed, self._broker_lost_at = time.monotonic(), utcnow()
        if self._stopping.is_set():
            logger.info("gateway disconnected: %s", reason)
        else:
            logger.warning("gateway lost the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == topics.BROKER_DROPPED:
            self._broker_dropped(bytes(message.payload))
            return
        self.counters["received"] += 1
        parsed: DeviceMessage | None = None
        try:
            parsed = parse(message.topic, bytes(message.payload))
            if isinstance(parsed, Telemetry) and self.active.is_set():
                self.ingest.interlock.check(parsed)  # at once, on this thread: a stop never waits on the database
        except Malformed as reason:
            self.counters["malformed"] += 1
            logger.warning("dropped a message on %s: %s", message.topic, reason)
        except Exception:  # never let anything reach paho's network thread
            self.counters["errors"] += 1
            logger.exception("could not take a message on %s", message.topic)
        self._inbox.append((message.mid, message.qos, parsed))
        if not self._arrived.is_set():  # set() takes a lock each time; the worker clears it before taking the inbox
            self._arrived.set()

    def _lost_device_patience(self) -> timedelta:
        """How long a device may be offline before its session counts as interrupted. Mosquitto sends every
        device's Last Will as it shuts down, often before the gateway sees its own connection drop: around a
        broker outage, a device is given the time to reconnect after the broker is back."""
        near_outage = not self.connected.is_set() or time.monotonic() - self._broker_changed < BROKER_OUTAGE_PATIENCE_S
        return timedelta(seconds=BROKER_OUTAGE_PATIENCE_S if near_outage else LOST_DEVICE_PATIENCE_S)

    def _publish_now(self, topic: str, payload: bytes) -> bool:
        """The interlock's stop, straight to the device: QoS 1, from whichever thread decided it."""
        return self.connected.is_set() and self._client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def _broker_dropped(self, payload: bytes) -> None:
        """Say so loudly when Mosquitto drops messages: a full queue is data lost, which it only logs itself."""
        try:
            total = int(payload)
        except ValueError:
            return
        if total > self._broker_dropped_seen:
            self.counters["broker_dropped"] += total - self._broker_dropped_seen
            logger.error(
                "the broker has dropped %d QoS 1 messages since it started (%d new): a queue was full. "
                "Sessions show the gaps as missing_seqs; raise max_queued_messages or find why the gateway "
                "fell behind",
                total,
                total - self._broker_dropped_seen,
            )
        self._broker_dropped_seen = total

    # --- supervision ----------------------------------------------------------------------------------------

    def _supervised(self, part: str, loop: Callable[[], None]) -> None:
        """Run a thread's loop; start it again after an unexpected error, unless it keeps failing."""
        failures: deque[float] = deque()
        while not self._stopping.is_set():
            try:
                loop()
                return
            except Exception:
                self.counters["errors"] += 1
                self._failed_parts[part] = utcnow()
                now = time.monotonic()
                failures.append(now)
                while failures[0] < now - 60:
                    failures.popleft()
                if len(failures) >= RESTARTS_ALLOWED:
                    logger.critical(
                        "the gateway's %s failed %d times in a minute; the gateway is down",
                        part,
                        len(failures),
                        exc_info=True,
                    )
                    self.fatal.set()
                    return
                logger.exception("the gateway's %s failed; starting it again", part)
                self._stopping.wait(RESTART_AFTER_S)

    # --- the worker: device messages into the database ------------------------------------------------------

    def _work(self) -> None:
        """Write what arrives in batches, one transaction each; wait out a database that is down."""
        housekept = 0.0
        while not (self._stopping.is_set() and not self._inbox):
            batch = self._next_batch()
            if not self.active.is_set():
                self._keep_as_standby(batch)
                batch = []  # but stops it published while it was active are still recorded
            else:
                batch = self._standby_backlog() + batch
                if time.monotonic() - housekept > HOUSEKEEPING_S:
                    housekept = time.monotonic()
                    self._housekeep()
            while (batch or self.ingest.interlock.unrecorded()) and not self._write(batch):
                time.sleep(DATABASE_RETRY_S)

    def _next_batch(self) -> list[Inbound]:
        if not self._inbox:
            self._arrived.wait(POLL_S)
            self._arrived.clear()  # whatever arrived before this is taken below; anything later sets it again
        batch: list[Inbound] = []
        while self._inbox and len(batch) < BATCH_MAX:
            batch.append(self._inbox.popleft())
        return batch

    def _keep_as_standby(self, batch: list[Inbound]) -> None:
        """A standby keeps what arrives for a while, for the takeover, and acknowledges it at once."""
        now = time.monotonic()
        for mid, qos, message in batch:
            if message is not None:
                self._standby_window.append((now, message))
            if qos > 0:
                self._client.ack(mid, qos)
        while self._standby_window and self._standby_window[0][0] < now - STANDBY_WINDOW_S:
            self._standby_window.popleft()

    def _standby_backlog(self) -> list[Inbound]:
        """On taking over: what arrived while standing by, to be written (what the other wrote is ignored)."""
        backlog: list[Inbound] = [(0, 0, message) for _at, message in self._standby_window]
        self._standby_window.clear()
        return backlog

    def _housekeep(self) -> None:
        """Guard every session in progress after a start, a takeover or an outage; interrupt lost devices."""
        assert self._factory is not None
        guard_all, self._guard_all = self._guard_all, False
        try:
            with transaction(self._factory) as session:
                if guard_all:
                    self.ingest.watch_running(session)
                self.ingest.interrupt_lost(session, patience=self._lost_device_patience())
            if self.connected.is_set():  # without the broker, device states are only what they were
                self._sweep_offline()
        except OperationalError as error:
            self._database.failed(_first_line(error))
            self._guard_all = True

    def _sweep_offline(self) -> None:
        """The alarms of devices offline in opening hours, in a transaction of their own: a sweep that fails for a
        bug holds back nothing else, and the worker goes on (a database away is reported as the housekeeping's)."""
        assert self._factory is not None
        try:
            with transaction(self._factory) as session:
                self.offline_alarms.sweep(session)
        except OperationalError:
            raise
        except Exception:  # a bug here must not stop the worker that writes what devices report
            self.counters["errors"] += 1
            logger.exception("could not sweep the devices offline in opening hours")

    def _write(self, batch: list[Inbound]) -> bool:
        """True when the batch is done with (stored, or dropped for a bug) and acknowledged; False to try again."""
        assert self._factory is not None
        try:
            self.ingest.store(self._factory, [message for _mid, _qos, message in batch if message is not None])
        except OperationalError as error:
            self.counters["database_retries"] += 1
            self._database.failed(_first_line(error))
            self._guard_all = True  # sessions may have been armed meanwhile
            return self._stopping.is_set()  # unacknowledged: the broker sends them again after a restart
        except Exception:
            self.counters["errors"] += 1
            logger.exception("a batch of %d device messages could not be written", len(batch))
        else:
            self._database.recovered()
        for mid, qos, _message in batch:
            if qos > 0:
                self._client.ack(mid, qos)
        return True

    # --- the sender: lease, presence, health, outbox --------------------------------------------------------

    def _send(self) -> None:
        """Publish the outbox when woken by a new command, and at least every POLL_S."""
        assert self._outbox is not None
        every = Every()
        try:
            while not self._stopping.is_set():
                if every.due("lease", LEASE_EVERY_S):
                    self._hold_lease()
                self._say_present()
                if self._health_file is not None and every.due("health", HEALTH_EVERY_S):
                    self._health_file.write(self.health())  # by this thread: a stuck one goes stale
                if self.active.is_set():
                    self._send_once()
                self._outbox.wakeup.wait(POLL_S)
        finally:
            self._outbox.wakeup.close()
            self._leave()

    def _hold_lease(self) -> None:
        """Renew the lease, or take it once the active gateway's has run out. While the database is away, keep
        the role: nobody can take the lease then, and the interlock must go on."""
        assert self._lease is not None
        try:
            holding = self._lease.acquire_or_renew()
        except OperationalError as error:
            self._database.failed(_first_line(error))
            return
        if holding and not self.active.is_set():
            logger.info("gateway %s is active", self.client_id)
            self._guard_all = True
            self.active.set()
            # the devices heard the Will of the gateway this one replaces: tell them a gateway is online again
            self._client.publish(topics.GATEWAY_STATUS, topics.ONLINE, qos=1, retain=True)
        elif not holding and self.active.is_set():
            logger.warning("gateway %s hands over to %s and stands by", self.client_id, self._lease.holder_now())
            self.active.clear()
            self.ingest.interlock.forget_all()

    def _leave(self) -> None:
        """On a clean stop: hand the lease over at once and tell the API this gateway leaves. A sender that failed
        keeps the lease: it is started again, and hands over only if the gateway dies."""
        if not self._stopping.is_set():
            return
        if self._lease is not None and self.active.is_set():
            try:
                self._lease.release()
            except OperationalError:
                logger.warning("could not hand the lease over; the standby takes it once it expires")
        self._say_present(leaving=True)

    def _say_present(self, leaving: bool = False) -> None:
        assert self._presence is not None
        try:
            self._presence.say(connected=self.connected.is_set() and not leaving, health=self.health())
        except OperationalError as error:  # the API takes the silence for absence, which is right
            self._database.failed(_first_line(error))

    def _send_once(self) -> None:
        """One round: what is queued (and after a reconnect, what no device answered)."""
        assert self._outbox is not None
        if not self.connected.is_set():
            return
        try:
            self._outbox.send_round()
        except OperationalError as error:  # a command sent but not marked so goes again, with its own command_id
            self._database.failed(_first_line(error))
        except Exception:
            self.counters["errors"] += 1
            logger.exception("could not send the outbox")

    def _publish(self, topic: str, payload: bytes) -> bool:
        return self._client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS


def _first_line(error: OperationalError) -> str:
    """What went wrong, from the driver's own error: never the statement and its parameters."""
    text = str(error.orig or "").strip()
    return text.splitlines()[0] if text else type(error.orig or error).__name__


def _send_small_packets_at_once(client: mqtt.Client) -> None:
    """TCP_NODELAY: a stop must not wait for the ACK of the previous packet (Nagle; ~40 ms measured)."""
    connection = client.socket()
    if isinstance(connection, socket.socket):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
