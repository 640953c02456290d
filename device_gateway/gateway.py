"""The gateway process: one class owns the paho client and sets every callback in one place."""

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from device_gateway import topics
from device_gateway.broker_url import BrokerAddress

logger = logging.getLogger(__name__)
KEEPALIVE_S = 10
CLIENT_ID = "galvani-gateway"
CONNECT_TIMEOUT_S = 10.0


class Gateway:
    """Announces itself on the gateway status topic, with a Last Will that says offline."""

    def __init__(self, broker: BrokerAddress, client_id: str = CLIENT_ID) -> None:
        self.broker = broker
        self.connected = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=False, protocol=mqtt.MQTTv311)
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        self._client.will_set(topics.GATEWAY_STATUS, topics.OFFLINE, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a loss."""
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        if not self.connected.wait(CONNECT_TIMEOUT_S):
            logger.warning("gateway not yet connected to %s:%d; retrying in the background",
                           self.broker.host, self.broker.port)

    def stop(self) -> None:
        """Say offline on purpose (the Will is only for crashes), then disconnect."""
        if self.connected.is_set():
            self._client.publish(topics.GATEWAY_STATUS, topics.OFFLINE, qos=1, retain=True).wait_for_publish(5)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                    _properties: Any) -> None:
        if reason.is_failure:
            logger.error("broker refused the gateway: %s", reason)
            return
        client.publish(topics.GATEWAY_STATUS, topics.ONLINE, qos=1, retain=True)
        self.connected.set()
        logger.info("gateway connected to %s:%d", self.broker.host, self.broker.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                       _properties: Any) -> None:
        self.connected.clear()
        logger.info("gateway disconnected: %s", reason)
