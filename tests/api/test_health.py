"""`/health` tells whether the database and the broker answer."""

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from db.session import make_engine, make_session_factory
from db.settings import Settings
from tests.conftest import SECRET_KEY
from tests.services import free_port


def test_unreachable_broker_makes_health_503(settings: Settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"}), session_factory)
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "down",
        "database": "ok",
        "broker": "unreachable",
        "gateway": "down",
        "gateways": [],
    }


def test_unreachable_database_makes_health_503(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    settings = Settings(data_dir=tmp_path, database_url=url, secret_key=SECRET_KEY, mqtt_url=None)
    engine = make_engine(url)
    try:
        with TestClient(create_app(settings, make_session_factory(engine))) as client:
            response = client.get("/health")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
