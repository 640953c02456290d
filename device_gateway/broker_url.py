"""Reading GALVANI_MQTT_URL: mqtt://user:password@host:1883, or mqtts://user:password@host:8883 over TLS."""

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 1883
TLS_PORT = 8883
PLAIN_SCHEMES = {"mqtt", "tcp"}
TLS_SCHEMES = {"mqtts", "ssl"}


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    # mqtts://: how the connection is encrypted, and the broker's certificate checked (its CA and its host name)
    tls: ssl.SSLContext | None = None

    def __repr__(self) -> str:  # never show the password
        return f"BrokerAddress(host={self.host!r}, port={self.port}, username={self.username!r}, tls={bool(self.tls)})"


def parse_broker_url(url: str, ca_file: Path | None = None) -> BrokerAddress:
    """The broker in `url`; for mqtts://, its certificate must be signed by `ca_file` (else by a CA of the system)."""
    parts = urlsplit(url)
    if parts.scheme not in PLAIN_SCHEMES | TLS_SCHEMES:
        raise ValueError(
            "GALVANI_MQTT_URL must look like mqtts://user:password@host:8883 (or mqtt://…:1883 without TLS)"
        )
    secure = parts.scheme in TLS_SCHEMES
    return BrokerAddress(
        host=parts.hostname or "localhost",
        port=parts.port or (TLS_PORT if secure else DEFAULT_PORT),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=client_tls(ca_file) if secure else None,
    )


def client_tls(ca_file: Path | None) -> ssl.SSLContext:
    """TLS 1.2 or later to a broker whose certificate `ca_file` signed (else a CA of the system) and that names the
    host connected to."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"GALVANI_MQTT_CA_FILE ({ca_file}) is not a readable CA certificate: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
