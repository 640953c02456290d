"""Who may scrape /metrics, what its request labels hold (route templates, never ids or searches), and a scrape while
the database is away."""

import logging
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.request_id import WithRequestId
from db.session import make_engine, make_session_factory
from db.settings import Settings
from tests.conftest import SECRET_KEY
from tests.services import free_port

TOKEN = "m3tr1cs-" + "k" * 40
LOCAL = ("127.0.0.1", 50000)


def test_without_a_token_only_this_machine_may_scrape(client: TestClient) -> None:
    elsewhere = client.get("/metrics")  # the test client comes from "testclient", not a loopback address
    assert elsewhere.status_code == 403
    assert "GALVANI_METRICS_TOKEN" in elsewhere.json()["detail"]
    assert TestClient(client.app, client=LOCAL).get("/metrics").status_code == 200
    assert TestClient(client.app, client=("::1", 50000)).get("/metrics").status_code == 200


def test_with_a_token_whoever_sends_it_may_scrape(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(TOKEN)}), session_factory)
    local = TestClient(app, client=LOCAL)
    assert local.get("/metrics").status_code == 401  # a token is set: this machine needs it too
    wrong = local.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    scraped = TestClient(app).get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200 and "galvani_database_up 1.0" in scraped.text


def test_production_refuses_a_placeholder_metrics_token(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GALVANI_METRICS_TOKEN"):
        Settings(env="production", data_dir=tmp_path, secret_key=SECRET_KEY, metrics_token=SecretStr("changeme"))
    assert Settings(env="production", data_dir=tmp_path, secret_key=SECRET_KEY, metrics_token=SecretStr(TOKEN))


def test_requests_are_labelled_by_route_template_never_by_path(client: TestClient, admin: dict[str, str]) -> None:
    client_id = uuid.uuid4()
    assert client.get(f"/api/v1/clients/{client_id}", headers=admin).status_code == 404
    assert client.get("/api/v1/clients", params={"q": "Ottoline"}, headers=admin).status_code == 200
    assert client.get("/wp-login.php").status_code == 404
    assert client.request("BREW", "/health").status_code == 405
    scraped = TestClient(client.app, client=LOCAL).get("/metrics").text
    assert 'route="/api/v1/clients/{client_id}",status="404"' in scraped
    assert 'method="GET",route="/api/v1/clients",status="200"' in scraped
    assert 'method="GET",route="(unmatched)",status="404"' in scraped
    assert 'method="other",route="/health",status="405"' in scraped
    assert str(client_id) not in scraped and "Ottoline" not in scraped and "wp-login" not in scraped


def test_a_scrape_while_the_database_is_away_says_so_and_logs_with_the_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql+psycopg://127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    engine = make_engine(url)
    caplog.handler.addFilter(WithRequestId())
    try:
        app = create_app(
            Settings(data_dir=tmp_path, database_url=url, secret_key=SECRET_KEY), make_session_factory(engine)
        )
        with caplog.at_level(logging.WARNING, logger="api.routes.metrics"):
            scraped = TestClient(app, client=LOCAL).get("/metrics", headers={"X-Request-ID": "scrape-42"})
    finally:
        engine.dispose()
    assert scraped.status_code == 200 and scraped.headers["X-Request-ID"] == "scrape-42"
    assert "galvani_database_up 0.0" in scraped.text
    assert "galvani_http_request_duration_seconds" in scraped.text  # the requests are still counted
    [warning] = [record for record in caplog.records if record.name == "api.routes.metrics"]
    assert warning.request_id == "scrape-42"  # type: ignore[attr-defined]
