"""The gateway: one class owns the paho client and sets every callback in one place.

The paho network thread only parses and queues; a worker writes batches to the database, and a sender
publishes the outbox and tells the API, through the database, that the gateway is here and connected.
Neither ever blocks the network thread, and no exception reaches it. A QoS 1
message is acknowledged to the broker only once the batch holding it is committed, so a gateway killed
in between gets it again from its persistent session.
"""

import logging
import socket
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models.gateway import HEARTBEAT, GatewayPresence
from db.outbox import command_written
from db.session import transaction
from device_gateway import topics
from device_gateway.broker_url import BrokerAddress
from device_gateway.ingest import Ingest
from device_gateway.messages import DeviceMessage, Malformed, parse
from device_gateway.outbox import send_due
from device_gateway.wakeup import OutboxWakeup

logger = logging.getLogger(__name__)
KEEPALIVE_S = 10
CLIENT_ID = "galvani-gateway"
CONNECT_TIMEOUT_S = 10.0
POLL_S = 0.1  # the outbox is looked at least this often, and at once when a command is written
BATCH_MAX = 500
DATABASE_RETRY_S = 0.5


class Gateway:
    """Announces itself with a retained status and a Last Will; with a database, carries the device traffic."""

    def __init__(self, broker: BrokerAddress, session_factory: sessionmaker[Session] | None = None,
                 client_id: str = CLIENT_ID) -> None:
        self.broker = broker
        self.client_id = client_id
        self.connected = threading.Event()
        self.ingest = Ingest()
        self.counters: Counter[str] = self.ingest.counters
        self._factory = session_factory
        # (mid, qos, message); message is None for one dropped as malformed, acknowledged in its turn
        self._inbox: deque[tuple[int, int, DeviceMessage | None]] = deque()  # appends and pops are thread-safe
        self._arrived = threading.Event()
        self._stopping = threading.Event()
        self._broker_dropped_seen = 0
        self._said_connected, self._said_at = False, datetime.min.replace(tzinfo=UTC)  # presence last written
        self._resend = threading.Event()  # after a (re)connect: send again what no device answered
        self._threads: list[threading.Thread] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        self._client.will_set(topics.GATEWAY_STATUS, topics.OFFLINE, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a loss."""
        if self._factory is not None:
            self._threads = [threading.Thread(target=self._work, name="gateway-ingest", daemon=True),
                             threading.Thread(target=self._send, name="gateway-outbox", daemon=True)]
            for thread in self._threads:
                thread.start()
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        if not self.connected.wait(CONNECT_TIMEOUT_S):
            logger.warning("gateway not yet connected to %s:%d; retrying in the background",
                           self.broker.host, self.broker.port)

    def stop(self) -> None:
        """Finish what was received, say offline on purpose (the Will is only for crashes), disconnect."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        command_written.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.connected.is_set():
            self._client.publish(topics.GATEWAY_STATUS, topics.OFFLINE, qos=1, retain=True).wait_for_publish(5)
        self._client.disconnect()
        self._client.loop_stop()
        self._client._reset_sockets(sockpair_only=True)  # loop_stop leaves its wake-up pair open until collected

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                    _properties: Any) -> None:
        if reason.is_failure:
            logger.error("broker refused the gateway: %s", reason)
            return
        _send_small_packets_at_once(client)
        if self._factory is not None:  # subscribe on every connect: the broker may have lost the session
            client.subscribe([(topic, 1) for topic in topics.DEVICE_REPORTS] + [(topics.BROKER_DROPPED, 0)])
            self._resend.set()
            command_written.set()
        client.publish(topics.GATEWAY_STATUS, topics.ONLINE, qos=1, retain=True)
        self.connected.set()
        logger.info("gateway connected to %s:%d", self.broker.host, self.broker.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                       _properties: Any) -> None:
        self.connected.clear()
        if self._stopping.is_set():
            logger.info("gateway disconnected: %s", reason)
        else:
            logger.warning("gateway lost the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == topics.BROKER_DROPPED:
            self._broker_dropped(message.payload)
            return
        parsed: DeviceMessage | None = None
        try:
            parsed = parse(message.topic, message.payload)
        except Malformed as reason:
            self.counters["malformed"] += 1
            logger.warning("dropped a message on %s: %s", message.topic, reason)
        except Exception:  # never let anything reach paho's network thread
            self.counters["errors"] += 1
            logger.exception("could not take a message on %s", message.topic)
        self._inbox.append((message.mid, message.qos, parsed))
        if not self._arrived.is_set():  # set() takes a lock each time; the worker clears it before taking the inbox
            self._arrived.set()

    def _broker_dropped(self, payload: bytes) -> None:
        """Say so loudly when Mosquitto drops messages: a full queue is data lost, which it only logs itself."""
        try:
            total = int(payload)
        except ValueError:
            return
        if total > self._broker_dropped_seen:
            self.counters["broker_dropped"] += total - self._broker_dropped_seen
            logger.error("the broker has dropped %d QoS 1 messages since it started (%d new): a queue was full. "
                         "Sessions show the gaps as missing_seqs; raise max_queued_messages or find why the gateway "
                         "fell behind", total, total - self._broker_dropped_seen)
        self._broker_dropped_seen = total

    def _work(self) -> None:
        """Write what arrives in batches, one transaction each; wait out a database that is down."""
        while not (self._stopping.is_set() and not self._inbox):
            batch = self._next_batch()
            while batch and not self._write(batch):
                time.sleep(DATABASE_RETRY_S)

    def _next_batch(self) -> list[tuple[int, int, DeviceMessage | None]]:
        if not self._inbox:
            self._arrived.wait(POLL_S)
            self._arrived.clear()  # whatever arrived before this is taken below; anything later sets it again
        batch = []
        while self._inbox and len(batch) < BATCH_MAX:
            batch.append(self._inbox.popleft())
        return batch

    def _write(self, batch: list[tuple[int, int, DeviceMessage | None]]) -> bool:
        """True when the batch is done with (stored, or dropped for a bug) and acknowledged; False to try again."""
        assert self._factory is not None
        try:
            self.ingest.store(self._factory, [message for _mid, _qos, message in batch if message is not None])
        except OperationalError:
            logger.warning("database unreachable; keeping %d messages to write again", len(batch))
            return self._stopping.is_set()  # unacknowledged: the broker sends them again after a restart
        except Exception:
            self.counters["errors"] += 1
            logger.exception("a batch of %d device messages could not be written", len(batch))
        for mid, qos, _message in batch:
            if qos > 0:
                self._client.ack(mid, qos)
        return True

    def _send(self) -> None:
        """Publish the outbox when woken by a new command, and at least every POLL_S."""
        assert self._factory is not None
        wakeup = OutboxWakeup(self._factory.kw["bind"])
        try:
            while not self._stopping.is_set():
                self._say_present()
                self._send_once()
                wakeup.wait(POLL_S)
        finally:
            wakeup.close()
            self._say_present(leaving=True)

    def _say_present(self, leaving: bool = False) -> None:
        """Tell the API that this gateway runs and whether it is connected: every HEARTBEAT, and at once when
        that changes. Without it the API refuses to start sessions, as no device state it has is current."""
        assert self._factory is not None
        connected = self.connected.is_set() and not leaving
        now = utcnow()
        if connected == self._said_connected and now - self._said_at < HEARTBEAT:
            return
        try:
            with transaction(self._factory) as session:
                session.merge(GatewayPresence(client_id=self.client_id, connected=connected, seen_at=now))
        except Exception:  # the database away: the API will take the silence for absence, which is right
            logger.warning("could not tell the database that the gateway is %s", "here" if connected else "leaving")
            return
        self._said_connected, self._said_at = connected, now

    def _send_once(self) -> None:
        """One round: what is queued (and after a reconnect, what no device answered)."""
        assert self._factory is not None
        if not self.connected.is_set():
            return
        resend = self._resend.is_set()
        self._resend.clear()
        try:
            with transaction(self._factory) as session:
                send_due(session, self._publish, resend_sent=resend)
        except OperationalError:  # a command sent but not marked so goes again, with its own command_id
            logger.warning("database unreachable; the outbox waits for it")
        except Exception:
            self.counters["errors"] += 1
            logger.exception("could not send the outbox")
        else:
            return
        if resend:
            self._resend.set()  # what no device answered is still to be sent again

    def _publish(self, topic: str, payload: bytes) -> bool:
        return self._client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS


def _send_small_packets_at_once(client: mqtt.Client) -> None:
    """TCP_NODELAY: a stop must not wait for the ACK of the previous packet (Nagle; ~40 ms measured)."""
    connection = client.socket()
    if isinstance(connection, socket.socket):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
