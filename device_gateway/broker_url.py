"""Reading GALVANI_MQTT_URL: mqtt://user:password@host:port."""

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 1883


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never show the password
        return f"BrokerAddress(host={self.host!r}, port={self.port}, username={self.username!r})"


def parse_broker_url(url: str) -> BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "tcp"}:
        raise ValueError("GALVANI_MQTT_URL must look like mqtt://user:password@host:1883")
    return BrokerAddress(
        host=parts.hostname or "localhost",
        port=parts.port or DEFAULT_PORT,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
