"""Bad input on every field of every endpoint: a 4xx naming the field, nothing stored, never a 500."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Client, User

GOOD_CLIENT = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "date_of_birth": "1985-12-10",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0958",
}
GOOD_USER = {
    "email": "hire@clinic.example.com",
    "password": "long-enough-pw",
    "full_name": "New Hire",
    "role": "esthetician",
}
LONG = "x" * 300

CLIENT_CASES = [
    ("first_name", None),
    ("first_name", ""),
    ("first_name", "   "),
    ("first_name", 7),
    ("first_name", LONG),
    ("last_name", None),
    ("last_name", ""),
    ("last_name", ["a"]),
    ("last_name", LONG),
    ("date_of_birth", None),
    ("date_of_birth", "10/12/1985"),
    ("date_of_birth", "1985-13-01"),
    ("date_of_birth", "2999-01-01"),
    ("date_of_birth", "1850-01-01"),
    ("date_of_birth", 19851210),
    ("email", "not-an-email"),
    ("email", "a@b"),
    ("email", "two@@example.com"),
    ("email", 5),
    ("email", "x" * 250 + "@example.com"),
    ("phone", "call me"),
    ("phone", "12"),
    ("phone", "+1 555 0100 0000 0000 99"),
    ("phone", 5551234),
    ("nickname", "Addy"),
]
USER_CASES = [
    ("email", "nope"),
    ("email", None),
    ("password", "short"),
    ("password", "p" * 200),
    ("password", None),
    ("full_name", ""),
    ("full_name", None),
    ("role", "owner"),
    ("role", None),
    ("is_admin", True),
]


def _count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(("field", "value"), CLIENT_CASES)
def test_client_create_names_the_bad_field(
    client: TestClient, front_desk: dict[str, str], db: Session, field: str, value: Any
) -> None:
    before = _count(db, Client)
    response = client.post("/api/v1/clients", headers=front_desk, json=GOOD_CLIENT | {field: value})
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert response.json()["detail"].startswith(field)
    assert _count(db, Client) == before


@pytest.mark.parametrize(("field", "value"), [c for c in CLIENT_CASES if c[1] is not None])
def test_client_update_names_the_bad_field(
    client: TestClient, front_desk: dict[str, str], field: str, value: Any
) -> None:
    made = client.post("/api/v1/clients", headers=front_desk, json=GOOD_CLIENT).json()
    response = client.patch(f"/api/v1/clients/{made['id']}", headers=front_desk, json={field: value})
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert client.get(f"/api/v1/clients/{made['id']}", headers=front_desk).json() == made


def test_client_without_a_way_to_reach_them(client: TestClient, front_desk: dict[str, str]) -> None:
    body = {k: v for k, v in GOOD_CLIENT.items() if k not in {"email", "phone"}}
    response = client.post("/api/v1/clients", headers=front_desk, json=body)
    assert response.status_code == 422
    assert _fields(response) == ["email"]


@pytest.mark.parametrize("missing", ["first_name", "last_name", "date_of_birth"])
def test_client_missing_required_field(client: TestClient, front_desk: dict[str, str], missing: str) -> None:
    body = {k: v for k, v in GOOD_CLIENT.items() if k != missing}
    response = client.post("/api/v1/clients", headers=front_desk, json=body)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": missing, "message": "is required"}]


@pytest.mark.parametrize(("field", "value"), USER_CASES)
def test_user_create_names_the_bad_field(
    client: TestClient, admin: dict[str, str], db: Session, field: str, value: Any
) -> None:
    before = _count(db, User)
    response = client.post("/api/v1/users", headers=admin, json=GOOD_USER | {field: value})
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert _count(db, User) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", ""),
        ("role", "owner"),
        ("is_active", "maybe"),
        ("password", "short"),
        ("unlock", "please"),
        ("email", "x@y.z"),
    ],
)
def test_user_update_names_the_bad_field(client: TestClient, admin: dict[str, str], field: str, value: Any) -> None:
    made = client.post("/api/v1/users", headers=admin, json=GOOD_USER).json()
    response = client.patch(f"/api/v1/users/{made['id']}", headers=admin, json={field: value})
    assert response.status_code == 422, response.text
    assert field in _fields(response)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"q": "q" * 101}, "q"),
    ],
)
def test_client_list_parameters(client: TestClient, front_desk: dict[str, str], params: dict, field: str) -> None:
    response = client.get("/api/v1/clients", headers=front_desk, params=params)
    assert response.status_code == 422
    assert _fields(response) == [field]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"user_id": "me"}, "user_id"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-11-20T10:00"}, "end"),
        ({"limit": 501}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"record_type": "r" * 40}, "record_type"),
    ],
)
def test_audit_parameters(client: TestClient, admin: dict[str, str], params: dict, field: str) -> None:
    response = client.get("/api/v1/audit", headers=admin, params=params)
    assert response.status_code == 422
    assert _fields(response) == [field]


@pytest.mark.parametrize("path", ["/api/v1/clients/42", "/api/v1/users/not-an-id"])
def test_malformed_ids(client: TestClient, admin: dict[str, str], path: str) -> None:
    response = client.get(path, headers=admin)
    assert response.status_code == 422
    assert "must be an id" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2, 3]", "application/json"),
        ('"a string"', "application/json"),
        ("null", "application/json"),
        ("first_name=Ada", "application/x-www-form-urlencoded"),
        ("", "application/json"),
        ('{"first_name": Infinity, "last_name": NaN}', "application/json"),
    ],
)
def test_bodies_that_are_not_a_json_object(
    client: TestClient, front_desk: dict[str, str], db: Session, content: str, content_type: str
) -> None:
    response = client.post("/api/v1/clients", headers=front_desk | {"content-type": content_type}, content=content)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert _count(db, Client) == 0


def test_body_over_one_mebibyte_is_413(client: TestClient, front_desk: dict[str, str], db: Session) -> None:
    body = json.dumps(GOOD_CLIENT | {"first_name": "A" * (1024 * 1024)})
    response = client.post("/api/v1/clients", headers=front_desk | {"content-type": "application/json"}, content=body)
    assert response.status_code == 413
    assert "1 MiB" in response.json()["detail"]
    assert _count(db, Client) == 0


def test_chunked_body_over_one_mebibyte_is_413(client: TestClient, front_desk: dict[str, str]) -> None:
    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(20):
            yield b"x" * 65536

    response = client.post(
        "/api/v1/clients", headers=front_desk | {"content-type": "application/json"}, content=chunks()
    )
    assert response.status_code == 413


def test_body_just_under_the_limit_is_read(client: TestClient, front_desk: dict[str, str]) -> None:
    body = json.dumps(GOOD_CLIENT | {"note": "n" * (1024 * 1024 - 200)})
    response = client.post("/api/v1/clients", headers=front_desk | {"content-type": "application/json"}, content=body)
    assert response.status_code == 422  # read and judged: an unknown field
    assert _fields(response) == ["note"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def _bodies(fields: list[str]) -> st.SearchStrategy[Any]:
    known = st.fixed_dictionaries({}, optional={f: json_values for f in fields})
    return known | json_values


FUZZED = [
    ("POST", "/api/v1/clients", list(GOOD_CLIENT)),
    ("POST", "/api/v1/users", list(GOOD_USER)),
    ("PUT", "/api/v1/settings", ["timezone", "opening_hours"]),
]


@pytest.mark.parametrize(("method", "path", "fields"), FUZZED, ids=lambda v: v if isinstance(v, str) else "")
def test_no_body_makes_a_server_error(
    client: TestClient, admin: dict[str, str], method: str, path: str, fields: list[str]
) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=_bodies(fields))
    def check(body: Any) -> None:
        response = client.request(method, path, headers=admin, json=body)
        assert response.status_code < 500
        assert "detail" in response.json() or response.status_code < 300

    check()
