"""Process settings read from the environment (prefix GALVANI_).

They live in `db` because both processes, the API and the device gateway, read them.
"""

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db.weekly_hours import WeeklyHours, WeeklyHoursError, parse_weekly_hours

PLACEHOLDER_SECRETS = {
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "placeholder",
    "galvani",
    "dev",
    "password",
    "admin",
    "postgres",
    "test",
}
# Words that mark a value copied from an example instead of made up: refused wherever they stand in a secret.
PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "placeholder", "replace-me", "replaceme", "your-secret")
MIN_SECRET_LENGTH = 32
MIN_ADMIN_PASSWORD_LENGTH = 10  # what `galvani create-user` asks for


class Settings(BaseSettings):
    # An empty variable counts as unset: compose passes `${GALVANI_CLINIC_TIMEZONE:-}` as "" when it is not given.
    model_config = SettingsConfigDict(env_prefix="GALVANI_", extra="ignore", env_ignore_empty=True)

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = None
    mqtt_url: str | None = None
    # The CA that signed the broker's certificate (the clinic CA's ca.pem), for an mqtts:// mqtt_url; unset, the
    # system's CAs. The gateway and `galvani simulate` refuse a broker whose certificate it did not sign.
    mqtt_ca_file: Path | None = None
    # Where the gateway keeps the devices' broker users (`device_id:hash` lines) for Mosquitto to load;
    # unset, it keeps none (the embedded broker asks for no passwords).
    device_users_file: Path | None = None
    embedded_mqtt_port: int = 1884
    # The gateway's own identity on the broker and in the lease; unset, the user in mqtt_url, else galvani-gateway.
    # With a user in mqtt_url it must be that user (see _gateway_id_is_its_broker_user).
    gateway_id: str | None = None
    # The gateway writes its health here every second, for `galvani gateway-health` (compose's check).
    gateway_health_file: Path | None = None
    # Staff HTTPS for `galvani api` and `galvani serve`: the server's certificate (PEM, any intermediate CA's after
    # it) and its private key. Unset, they serve plain HTTP.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    secret_key: SecretStr | None = None
    # The clinic's time zone and opening hours, stored as the clinic's settings at first start when the database has
    # none yet (galvani/bootstrap.py); after that the saved settings rule, and an admin changes them on /settings.
    clinic_timezone: str = "UTC"
    opening_hours: str | None = None  # like "mon-fri 09:00-18:00; sat 10:00-16:00" (db/weekly_hours.py)
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    access_token_minutes: int = 480
    log_level: str = "INFO"
    # json: one JSON object a line, with the request's id (production's default); text: lines for a person reading a
    # terminal (development's default).
    log_format: Literal["json", "text"] | None = None
    # Who may scrape /metrics: with a token, whoever sends it as a bearer token; without one, this machine only.
    metrics_token: SecretStr | None = None

    @field_validator("clinic_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"GALVANI_CLINIC_TIMEZONE: {value!r} is not a time zone name like Europe/London") from exc
        return value

    @field_validator("opening_hours")
    @classmethod
    def _readable_hours(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_weekly_hours(value)
            except WeeklyHoursError as exc:
                raise ValueError(f"GALVANI_OPENING_HOURS: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _real_secret_outside_development(self) -> "Settings":
        if self.env != "development":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if is_placeholder_secret(key):
                raise ValueError(
                    "GALVANI_SECRET_KEY must be a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters outside development"
                )
            self._no_placeholder_passwords()
        return self

    def _no_placeholder_passwords(self) -> None:
        # A password copied from an example opens the clinic to anyone who read the example.
        admin = self.admin_password.get_secret_value() if self.admin_password else ""
        if admin and (len(admin) < MIN_ADMIN_PASSWORD_LENGTH or _looks_like_placeholder(admin)):
            raise ValueError(
                f"GALVANI_ADMIN_PASSWORD must be at least {MIN_ADMIN_PASSWORD_LENGTH} characters and not a "
                "placeholder outside development (or leave it unset and make the admin with galvani create-user)"
            )
        for variable, url in (("GALVANI_DATABASE_URL", self.database_url), ("GALVANI_MQTT_URL", self.mqtt_url)):
            password = unquote(urlsplit(url).password or "") if url else ""
            if password and _looks_like_placeholder(password):
                raise ValueError(f"{variable} holds a placeholder password: give it a random one outside development")

    @model_validator(mode="after")
    def _gateway_id_is_its_broker_user(self) -> "Settings":
        # The production broker takes a client's username as its client id (deploy/mosquitto/mosquitto.conf). A
        # gateway whose id is not its user would be one gateway in the lease and another on the broker, and two
        # gateways given one user by mistake would push each other off the broker every second, in turn.
        user = unquote(urlsplit(self.mqtt_url).username or "") if self.mqtt_url else ""
        if self.gateway_id and user and self.gateway_id != user:
            raise ValueError(
                f"GALVANI_GATEWAY_ID ({self.gateway_id}) must be the user in GALVANI_MQTT_URL ({user}): "
                "the broker knows each gateway by its user"
            )
        return self

    @model_validator(mode="after")
    def _tls_settings_agree(self) -> "Settings":
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("GALVANI_TLS_CERTFILE and GALVANI_TLS_KEYFILE go together: set both for HTTPS, or neither")
        if self.mqtt_ca_file and urlsplit(self.mqtt_url or "").scheme not in {"mqtts", "ssl"}:
            # A CA given for a plain connection would read as TLS configured while everything crosses in the clear.
            raise ValueError("GALVANI_MQTT_CA_FILE is for a broker reached over TLS: GALVANI_MQTT_URL must be mqtts://")
        return self

    @property
    def clinic_timezone_given(self) -> bool:
        """Whether GALVANI_CLINIC_TIMEZONE was set, rather than left at its default."""
        return "clinic_timezone" in self.model_fields_set

    @property
    def weekly_hours(self) -> WeeklyHours | None:
        """GALVANI_OPENING_HOURS read day by day; None when it is not set."""
        return parse_weekly_hours(self.opening_hours) if self.opening_hours is not None else None

    @model_validator(mode="after")
    def _real_metrics_token_outside_development(self) -> "Settings":
        token = self.metrics_token.get_secret_value() if self.metrics_token else None
        if self.env != "development" and token is not None and is_placeholder_secret(token):
            raise ValueError(
                f"GALVANI_METRICS_TOKEN must be a random value of at least {MIN_SECRET_LENGTH} characters outside "
                "development (or unset: then only this machine may scrape /metrics)"
            )
        return self

    @property
    def resolved_log_format(self) -> str:
        """JSON lines in production, text for a developer's terminal, unless GALVANI_LOG_FORMAT says."""
        return self.log_format or ("json" if self.env == "production" else "text")

    @property
    def resolved_database_url(self) -> str:
        """The configured database, or the embedded SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'galvani.db'}"

    @property
    def resolved_gateway_health_file(self) -> Path:
        return self.gateway_health_file or self.data_dir / "gateway-health.json"

    def signing_key(self) -> str:
        """The token signing key; in development one is made once and kept in the data folder."""
        if self.secret_key and not is_placeholder_secret(self.secret_key.get_secret_value()):
            return self.secret_key.get_secret_value()
        if self.env != "development":
            raise RuntimeError("GALVANI_SECRET_KEY is required outside development")
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()


def is_placeholder_secret(value: str) -> bool:
    """True for an empty, short or well-known placeholder secret."""
    return _looks_like_placeholder(value) or len(value.strip()) < MIN_SECRET_LENGTH


def _looks_like_placeholder(value: str) -> bool:
    folded = value.strip().lower()
    return folded in PLACEHOLDER_SECRETS or any(word in folded for word in PLACEHOLDER_WORDS)


@lru_cache
def get_settings() -> Settings:
    return Settings()
