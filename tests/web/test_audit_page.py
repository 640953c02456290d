"""The /audit page, read without a browser on each database: given a record id, that record's events and the list
reads that showed it; a list read names how many records it returned and which."""

from fastapi.testclient import TestClient

from api.security import create_access_token
from db.base import utcnow
from db.models import Role, User
from tests.api.clinic import register
from tests.conftest import SECRET_KEY
from web.session import SESSION_COOKIE


def sign_in(client: TestClient, user: User) -> None:
    """The browser's session cookie for `user`."""
    token = create_access_token(
        user_id=user.id, generation=user.token_generation, key=SECRET_KEY, now=utcnow(), minutes=60
    )
    client.cookies.set(SESSION_COOKIE, token)


def test_a_clients_events_include_the_searches_that_showed_it(
    client: TestClient, staff: dict[Role, User], as_role: dict[Role, dict[str, str]]
) -> None:
    desk = as_role[Role.FRONT_DESK]
    listed = [register(client, desk, first_name=n, last_name="Listed")["id"] for n in ("Ann", "Bea", "Cyd")]
    unlisted = register(client, desk, first_name="Dee", last_name="Elsewhere")["id"]
    assert client.get("/api/v1/clients", params={"q": "listed"}, headers=desk).status_code == 200
    sign_in(client, staff[Role.ADMIN])

    page = client.get("/audit", params={"record": listed[1]})
    assert page.status_code == 200
    assert page.text.count("<tr>") == 1 + 2  # the header, the search and the creation
    assert f"client: a list of 3, {listed[1]} among them" in page.text
    assert all(client_id in page.text for client_id in listed)
    assert "Listed" not in page.text

    other = client.get("/audit", params={"record": unlisted})
    assert other.status_code == 200
    assert "client.list" not in other.text and "client.create" in other.text

    everything = client.get("/audit")
    assert everything.text.count("client.list") == 1 and everything.text.count("client.create") == 4


def test_a_record_id_too_long_is_refused_in_words(client: TestClient, staff: dict[Role, User]) -> None:
    sign_in(client, staff[Role.ADMIN])
    page = client.get("/audit", params={"record": "x" * 65})
    assert page.status_code == 422
    assert "at most 64 characters" in page.text
