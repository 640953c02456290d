"""Hostile HTTP input (issue 11): text no database stores, numbers past a column, and a document that tells
the truth about every answer. Each runs on SQLite and PostgreSQL."""

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.schemas.clinic_settings import LOCAL_TIME
from db.models import Client, PhysicianApproval, Protocol, Role, Room
from tests.api.clinic import STEP, new_client

NUL = "\x00"
FORM = {"content-type": "application/x-www-form-urlencoded"}
GOOD_CLIENT = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10", "email": "ada@example.com"}
APPROVAL = {
    "physician_name": "Dr Who",
    "scope": "pregnancy",
    "approved_on": "2026-01-05",
    "valid_until": "2026-06-01",
    "document_reference": "cabinet 3",
}
PROTOCOL = {"name": "Lift", "target": {"areas": ["cheeks"], "goal": "lift"}, "steps": [STEP]}

# (who, method, path, what is sent, the field the answer must name, the table that must stay as it was)
TEXT_INPUTS: list[tuple[Role | None, str, str, dict[str, Any], str, type | None]] = [
    (
        None,
        "POST",
        "/api/v1/auth/token",
        {"content": b"username=a%00b%40c.d&password=whatever", "headers": FORM},
        "username",
        None,
    ),
    (
        None,
        "POST",
        "/api/v1/auth/token",
        {"files": {"username": (None, "a@b.cd"), "password": (None, f"pw{NUL}")}},
        "password",
        None,
    ),
    (Role.ADMIN, "GET", "/api/v1/clients?q=a%00b", {}, "q", None),
    (Role.ADMIN, "GET", "/api/v1/audit?action=%00", {}, "action", None),
    (Role.ADMIN, "GET", "/api/v1/rooms?unknown=%00", {}, "unknown", None),
    (Role.ADMIN, "GET", "/api/v1/clients/a%00b", {}, "path", None),
    (
        Role.FRONT_DESK,
        "POST",
        "/api/v1/clients",
        {"json": GOOD_CLIENT | {"first_name": f"A{NUL}da"}},
        "first_name",
        Client,
    ),
    (Role.FRONT_DESK, "POST", "/api/v1/clients", {"json": GOOD_CLIENT | {f"nick{NUL}": "x"}}, "nick?", Client),
    (Role.ADMIN, "POST", "/api/v1/rooms", {"json": {"name": f"Room{NUL}1"}}, "name", Room),
    (Role.ADMIN, "POST", "/api/v1/rooms", {"content": b'{"name": "Room \\ud83d"}'}, "name", Room),
    (
        Role.MEDICAL_DIRECTOR,
        "POST",
        "/api/v1/protocols",
        {"json": PROTOCOL | {"steps": [STEP, STEP | {"mode": f"LI{NUL}FT"}]}},
        "steps.1.mode",
        Protocol,
    ),
    (
        Role.MEDICAL_DIRECTOR,
        "POST",
        "/api/v1/protocols",
        {"json": PROTOCOL | {"target": {"areas": ["cheeks"], "goal": f"{NUL}"}}},
        "target.goal",
        Protocol,
    ),
    (
        Role.MEDICAL_DIRECTOR,
        "POST",
        "/api/v1/clients/{client}/physician-approvals",
        {"json": APPROVAL | {"physician_name": f"Dr{NUL}"}},
        "physician_name",
        PhysicianApproval,
    ),
]


def _count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(
    ("role", "method", "path", "sent", "field", "table"),
    TEXT_INPUTS,
    ids=[f"{m} {p} {f}" for _, m, p, _, f, _ in TEXT_INPUTS],
)
def test_text_no_database_stores_is_a_422_naming_the_field(
    client: TestClient,
    as_role: dict[Role, dict[str, str]],
    db: Session,
    role: Role | None,
    method: str,
    path: str,
    sent: dict[str, Any],
    field: str,
    table: type | None,
) -> None:
    path = path.replace("{client}", new_client(client, as_role[Role.ADMIN]))
    before = _count(db, table) if table else 0
    headers = (
        (as_role[role] if role else {})
        | sent.get("headers", {})
        | ({"content-type": "application/json"} if "content" in sent and "headers" not in sent else {})
    )
    response = client.request(method, path, headers=headers, **{k: v for k, v in sent.items() if k != "headers"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert response.json()["detail"].startswith(f"{field}: must not contain")
    if table:
        assert _count(db, table) == before


@pytest.mark.parametrize(
    ("path", "field", "limit"),
    [
        ("/api/v1/audit?offset=9223372036854775808", "offset", "9223372036854775807"),
        ("/api/v1/screening-rules/9223372036854775808", "version", "2147483647"),
        ("/api/v1/screening-rules/2147483648", "version", "2147483647"),
    ],
)
def test_numbers_past_their_column_are_a_422(
    client: TestClient, admin: dict[str, str], path: str, field: str, limit: str
) -> None:
    response = client.get(path, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": field, "message": f"must be at most {limit}"}]


def test_times_far_from_now_are_a_422_not_an_overflow(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/api/v1/appointments", headers=admin, params={"end": "0001-01-01T00:00:00+00:01"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "end", "message": "must be between the years 1900 and 2999"}]


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    ]


def _integers(schema: Any, document: dict[str, Any], place: str) -> list[tuple[str, dict[str, Any]]]:
    """Every integer schema inside `schema`, references followed, with where it is."""
    if isinstance(schema, list):
        return [i for n, item in enumerate(schema) for i in _integers(item, document, f"{place}[{n}]")]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _integers(document["components"]["schemas"][name], document, f"{place}>{name}")
    found = [(place, schema)] if schema.get("type") == "integer" else []
    return found + [i for key, value in schema.items() for i in _integers(value, document, f"{place}.{key}")]


def test_every_integer_a_client_sends_has_a_maximum(app: FastAPI) -> None:
    """A query on a column with a number it cannot hold is a 500 on PostgreSQL: every integer is bounded."""
    document = app.openapi()
    integers = [
        i
        for method, path, operation in _operations(app)
        for i in _integers(
            [operation.get("parameters", []), operation.get("requestBody", {})], document, f"{method} {path}"
        )
    ]
    assert len(integers) > 20  # the walk does reach them
    assert [place for place, schema in integers if "maximum" not in schema] == []


def test_every_422_is_documented_in_the_shape_it_has(app: FastAPI) -> None:
    document = app.openapi()
    for method, path, operation in _operations(app):
        schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/InvalidInputBody"}, f"{method} {path}"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["InvalidInputBody"]["required"] == ["detail", "errors"]


@pytest.mark.parametrize("content", [b"{not json", b'{"name": "\xff"}'])
def test_an_unreadable_body_is_the_documented_422(
    client: TestClient, admin: dict[str, str], db: Session, content: bytes
) -> None:
    response = client.post("/api/v1/rooms", headers=admin | {"content-type": "application/json"}, content=content)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"
    assert _count(db, Room) == 0


def test_opening_hours_are_documented_as_what_is_sent(client: TestClient, admin: dict[str, str], app: FastAPI) -> None:
    documented = app.openapi()["components"]["schemas"]["DayHours"]["properties"]["open"]
    assert "format" not in documented  # JSON Schema's `time` needs an offset, which these never have
    sent = client.get("/api/v1/settings", headers=admin).json()["opening_hours"]["monday"]
    assert re.fullmatch(documented["pattern"], sent["open"]) and re.fullmatch(LOCAL_TIME, sent["close"])
    refused = client.put(
        "/api/v1/settings", headers=admin, json={"opening_hours": {"monday": {"open": "08:00+01:00", "close": "20:00"}}}
    )
    assert refused.status_code == 422, refused.text  # an offset used to reach the comparison with a naive time


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/clients", "GET, POST"),
        ("/api/v1/clients/3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b", "GET, PATCH, DELETE"),
        ("/api/v1/settings", "GET, PUT"),
    ],
)
def test_options_is_405_with_every_method_of_the_path(
    client: TestClient, admin: dict[str, str], path: str, allowed: str
) -> None:
    response = client.options(path, headers=admin)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert allowed in response.json()["detail"]
