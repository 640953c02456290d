"""Process settings: secrets refused when they are placeholders, defaults for a newcomer."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from db.settings import Settings

STRONG = "k" * 16 + "Q7vR2xW9pL4mN8sT6yU3zA5bC1dE0fG"


@pytest.mark.parametrize("secret", [None, "", "changeme", "secret", "short-but-not-placeholder"])
def test_production_needs_a_real_secret(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="GALVANI_SECRET_KEY"):
        Settings(env="production", secret_key=secret, _env_file=None)  # type: ignore[call-arg]


def test_production_accepts_a_strong_secret() -> None:
    settings = Settings(env="production", secret_key=STRONG)  # type: ignore[arg-type]
    assert settings.signing_key() == STRONG
    assert STRONG not in repr(settings)


def test_development_makes_one_key_and_keeps_it(tmp_path: Path) -> None:
    first = Settings(env="development", data_dir=tmp_path, secret_key=None).signing_key()
    second = Settings(env="development", data_dir=tmp_path, secret_key=None).signing_key()
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_default_database_is_a_sqlite_file_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'galvani.db'}"


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Settings(clinic_timezone="Europe/Atlantis")


def test_settings_come_from_galvani_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALVANI_CLINIC_TIMEZONE", "America/New_York")
    monkeypatch.setenv("GALVANI_DATABASE_URL", "postgresql://db/galvani")
    settings = Settings()
    assert (settings.clinic_timezone, settings.resolved_database_url) == ("America/New_York", "postgresql://db/galvani")


def test_a_gateway_id_other_than_its_broker_user_is_refused() -> None:
    """The broker knows a client by its username: a gateway under another's user would push it off."""
    with pytest.raises(ValidationError, match="GALVANI_GATEWAY_ID .* must be the user in GALVANI_MQTT_URL"):
        Settings(gateway_id="galvani-gateway-b", mqtt_url="mqtt://galvani-gateway-a:pw@mosquitto:1883")
    # Its own user, or a broker without users (development, tests), or no gateway id at all (the api) is fine.
    Settings(gateway_id="galvani-gateway-b", mqtt_url="mqtt://galvani-gateway-b:pw@mosquitto:1883")
    Settings(gateway_id="galvani-gateway-b", mqtt_url="mqtt://127.0.0.1:1883")
    Settings(mqtt_url="mqtt://galvani-gateway-a:pw@mosquitto:1883")
