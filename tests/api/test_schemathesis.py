"""Schemathesis over every operation of the OpenAPI document, for every role, on each database.

Every role gets every operation with generated requests, valid and invalid (the examples and fuzzing phases);
the admin, whom no permission stops, also gets the coverage phase: boundary values, each field wrong in turn,
undeclared methods. Run time: docs/reliability.md, "Hostile HTTP input".

Its checks stay on: no 5xx, responses (bodies, headers, content types) as documented, every status code
documented, 405 with an honest `Allow` for undeclared methods, 401 without a token. Two are left out because
their premise does not hold for this API: `positive_data_acceptance` expects every schema-valid request to
succeed, but many rules cannot be said in JSON Schema (a start in the future, a room that exists, a real time
zone, no NUL); `negative_data_rejection` expects every schema-invalid request to fail, but pydantic reads "12"
as 12 on purpose. The requests they judge are still sent, and every answer to them is checked.
"""

import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
)
from sqlalchemy.orm import sessionmaker
from starlette.types import Receive, Scope, Send

from api.app import create_app
from db.models import Role
from db.settings import Settings
from tests.conftest import SECRET_KEY

MAX_EXAMPLES = 10  # per operation and role in the fuzzing phase; the whole module stays under ~2 minutes
# /users/me overlaps /users/{user_id}: PATCH /users/me reaches PATCH /users/{user_id}, which answers 422 that
# `me` is not an id (not 405), and so `Allow` for /users/me honestly lists PATCH beside GET. So does
# /series/preview (POST) with GET /series/{series_id}.
OVERLAPPING_PATHS = {"/api/v1/users/me", "/api/v1/series/preview"}
CASES: Counter[str] = Counter()


def _document() -> dict[str, Any]:
    """The OpenAPI document; it does not depend on the database, so any app gives it."""
    config = Settings(
        data_dir=Path(tempfile.gettempdir()),
        database_url="sqlite://",
        secret_key=SECRET_KEY,
        mqtt_url=None,
        env="development",
    )
    return create_app(config, session_factory=sessionmaker()).openapi()


class _ThisTestsApp:
    """Schemathesis keeps every ASGI app it calls for the rest of the run; it gets this one, which passes each
    request to the app of the test running now (bound to that test's rolled-back transaction)."""

    app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the Galvani app has nothing to start or stop
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.app is not None
        await self.app(scope, receive, send)


CURRENT = _ThisTestsApp()
DOCUMENT = _document()
every_phase = schemathesis.openapi.from_dict(DOCUMENT)
without_coverage = schemathesis.openapi.from_dict(
    DOCUMENT, config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
)
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _report_case_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and CASES:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\nschemathesis cases: " + ", ".join(f"{k} {n}" for k, n in sorted(CASES.items())))


@every_phase.parametrize()
@SETTINGS
def test_every_operation_as_admin(
    case: schemathesis.Case, app: FastAPI, database_url: str, as_role: dict[Role, dict[str, str]]
) -> None:
    _call_and_validate(case, app, database_url, as_role, Role.ADMIN)


@without_coverage.parametrize()
@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN], ids=lambda role: role.value)
@SETTINGS
def test_every_operation_as_each_role(
    case: schemathesis.Case, app: FastAPI, database_url: str, as_role: dict[Role, dict[str, str]], role: Role
) -> None:
    _call_and_validate(case, app, database_url, as_role, role)


def _call_and_validate(
    case: schemathesis.Case, app: FastAPI, database_url: str, as_role: dict[Role, dict[str, str]], role: Role
) -> None:
    CURRENT.app = app
    CASES[f"{database_url.split(':')[0].split('+')[0]}/{role.value}"] += 1
    excluded = [positive_data_acceptance, negative_data_rejection]
    if case.path in OVERLAPPING_PATHS:
        excluded += [unsupported_method, allow_header_conformance]
    case.call_and_validate(app=CURRENT, headers=as_role[role], excluded_checks=excluded)
