"""Starting and stopping the gateway, with the embedded broker when no broker URL is configured."""

import logging

from db.session import make_engine, make_session_factory
from db.settings import Settings
from device_gateway.broker_url import BrokerAddress, parse_broker_url
from device_gateway.device_users import DeviceUsersFile
from device_gateway.embedded_broker import EmbeddedBroker
from device_gateway.gateway import CLIENT_ID, Gateway

logger = logging.getLogger(__name__)


class GatewayRunner:
    """The gateway and, in embedded mode, the broker it talks to."""

    def __init__(self, settings: Settings) -> None:
        self.embedded_broker: EmbeddedBroker | None = None
        if settings.mqtt_url:
            address = parse_broker_url(settings.mqtt_url, settings.mqtt_ca_file)
        else:
            self.embedded_broker = EmbeddedBroker(port=settings.embedded_mqtt_port)
            address = BrokerAddress(host=self.embedded_broker.host, port=self.embedded_broker.port)
        factory = make_session_factory(make_engine(settings.resolved_database_url))
        client_id = settings.gateway_id or address.username or CLIENT_ID  # the broker makes its user its id
        self.gateway = Gateway(
            address,
            session_factory=factory,
            client_id=client_id,
            health_file=settings.resolved_gateway_health_file,
            clinic_timezone=settings.clinic_timezone,
        )
        self.device_users = DeviceUsersFile(settings.device_users_file, factory) if settings.device_users_file else None

    def start(self) -> None:
        if self.embedded_broker:
            self.embedded_broker.start()
        if self.device_users:
            self.device_users.start()
        self.gateway.start()

    def stop(self) -> None:
        self.gateway.stop()
        if self.device_users:
            self.device_users.stop()
        if self.embedded_broker:
            self.embedded_broker.stop()
        logger.info("gateway stopped")
