"""Client records: register, search, change, soft-delete."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Client
from tests.api.clinic import register

URL = "/api/v1/clients"


def names(page: dict[str, Any]) -> list[str]:
    return [f"{c['first_name']} {c['last_name']}" for c in page["items"]]


def search(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(URL, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_register_and_read_back(client: TestClient, front_desk: dict[str, str]) -> None:
    made = register(client, front_desk, email="  Ada@Example.COM ", phone="+44 20 7946 0958")
    assert made["email"] == "ada@example.com"
    read = client.get(f"{URL}/{made['id']}", headers=front_desk).json()
    assert read == made


@pytest.fixture
def directory(client: TestClient, front_desk: dict[str, str]) -> None:
    register(client, front_desk, first_name="Ada", last_name="Lovelace", email="ada@analytical.org")
    register(client, front_desk, first_name="Grace", last_name="Hopper", phone="+1 (212) 555-0102")
    register(
        client, front_desk, first_name="Marie", last_name="Curie", email="marie@radium.fr", phone="+33 1 45 55 01 03"
    )
    register(client, front_desk, first_name="Rosalind", last_name="Franklin", email="ros_f@dna.uk")


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (None, ["Marie Curie", "Rosalind Franklin", "Grace Hopper", "Ada Lovelace"]),  # by last name
        ("lovelace", ["Ada Lovelace"]),
        ("LOVE", ["Ada Lovelace"]),
        ("ove", ["Ada Lovelace"]),
        ("grace hopper", ["Grace Hopper"]),
        ("hopper grace", ["Grace Hopper"]),
        ("radium", ["Marie Curie"]),
        ("ada@analytical.org", ["Ada Lovelace"]),
        ("555-0102", ["Grace Hopper"]),
        ("2125550102", ["Grace Hopper"]),
        ("(212) 555", ["Grace Hopper"]),
        ("45 55 01", ["Marie Curie"]),
        ("ros_f", ["Rosalind Franklin"]),
        ("r_s", []),  # an underscore is a character, not a wildcard
        ("%", []),
        ("nobody", []),
    ],
)
def test_search_by_name_email_or_phone(
    client: TestClient, front_desk: dict[str, str], q: str | None, expected: list[str]
) -> None:
    params = {"q": q} if q is not None else {}
    assert names(search(client, front_desk, **params)) == expected


@pytest.mark.usefixtures("directory")
@pytest.mark.parametrize("cap", [1, 5000])  # 1: more matches than the cap, so the name index is walked
def test_search_pages_are_the_same_either_way(
    client: TestClient, front_desk: dict[str, str], monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    monkeypatch.setattr("api.services.clients.MATCH_CAP", cap)
    assert names(search(client, front_desk, q="555")) == ["Marie Curie", "Grace Hopper"]  # their phones
    second = search(client, front_desk, q="555", limit=1, offset=1)
    assert (names(second), second["has_more"]) == (["Grace Hopper"], False)
    assert search(client, front_desk, q="555", offset=10)["items"] == []


@pytest.mark.usefixtures("directory")
def test_terms_too_short_for_the_trigram_index_are_found_along_the_names(
    client: TestClient, front_desk: dict[str, str]
) -> None:
    assert names(search(client, front_desk, q="ra")) == ["Marie Curie", "Rosalind Franklin", "Grace Hopper"]
    second = search(client, front_desk, q="ra", limit=2, offset=2)
    assert (names(second), second["has_more"]) == (["Grace Hopper"], False)
    assert names(search(client, front_desk, q="ra cur")) == ["Marie Curie"]  # one long term, one short


@pytest.mark.usefixtures("directory")
def test_pagination(client: TestClient, front_desk: dict[str, str]) -> None:
    first = search(client, front_desk, limit=3)
    rest = search(client, front_desk, limit=3, offset=3)
    assert (len(first["items"]), first["has_more"]) == (3, True)
    assert (names(rest), rest["has_more"]) == (["Ada Lovelace"], False)


def test_same_email_twice_is_a_conflict(client: TestClient, front_desk: dict[str, str]) -> None:
    register(client, front_desk, email="twin@example.com")
    response = client.post(
        URL,
        headers=front_desk,
        json={"first_name": "Other", "last_name": "Person", "date_of_birth": "1990-01-01", "email": "TWIN@example.com"},
    )
    assert response.status_code == 409
    assert "twin@example.com" in response.json()["detail"]


def test_changing_to_a_taken_email_is_a_conflict(client: TestClient, front_desk: dict[str, str]) -> None:
    register(client, front_desk, email="taken@example.com")
    other = register(client, front_desk, first_name="Bea", email="bea@example.com")
    response = client.patch(f"{URL}/{other['id']}", headers=front_desk, json={"email": "taken@example.com"})
    assert response.status_code == 409
    assert client.get(f"{URL}/{other['id']}", headers=front_desk).json()["email"] == "bea@example.com"


def test_update_changes_only_the_fields_given(client: TestClient, front_desk: dict[str, str]) -> None:
    made = register(client, front_desk, email="ada@example.com", phone="+1 555 0100 000")
    response = client.patch(f"{URL}/{made['id']}", headers=front_desk, json={"last_name": "King", "phone": None})
    assert response.status_code == 200
    body = response.json()
    assert (body["last_name"], body["phone"], body["first_name"]) == ("King", None, "Ada")
    assert names(search(client, front_desk, q="king")) == ["Ada King"]  # the search follows the change
    assert search(client, front_desk, q="lovelace")["items"] == []


def test_a_client_keeps_a_way_to_be_reached(client: TestClient, front_desk: dict[str, str]) -> None:
    made = register(client, front_desk, email="only@example.com")
    response = client.patch(f"{URL}/{made['id']}", headers=front_desk, json={"email": None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"


@pytest.mark.parametrize("field", ["first_name", "last_name", "date_of_birth"])
def test_required_fields_cannot_be_cleared(client: TestClient, front_desk: dict[str, str], field: str) -> None:
    made = register(client, front_desk)
    response = client.patch(f"{URL}/{made['id']}", headers=front_desk, json={field: None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_delete_is_soft(client: TestClient, front_desk: dict[str, str], db: Session) -> None:
    made = register(client, front_desk, email="gone@example.com")
    assert client.delete(f"{URL}/{made['id']}", headers=front_desk).status_code == 204
    assert client.get(f"{URL}/{made['id']}", headers=front_desk).status_code == 404
    assert client.patch(f"{URL}/{made['id']}", headers=front_desk, json={"first_name": "X"}).status_code == 404
    assert client.delete(f"{URL}/{made['id']}", headers=front_desk).status_code == 404
    assert search(client, front_desk, q="gone")["items"] == []
    kept = db.scalar(select(Client).where(Client.email == "gone@example.com"))
    assert kept is not None and kept.deleted_at is not None and kept.first_name == "Ada"


def test_deleted_clients_email_can_be_registered_again(client: TestClient, front_desk: dict[str, str]) -> None:
    made = register(client, front_desk, email="again@example.com")
    client.delete(f"{URL}/{made['id']}", headers=front_desk)
    again = register(client, front_desk, email="again@example.com")
    assert again["id"] != made["id"]


def test_unknown_client_is_404(client: TestClient, front_desk: dict[str, str]) -> None:
    response = client.get(f"{URL}/3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b", headers=front_desk)
    assert response.status_code == 404
    assert response.json() == {"detail": "There is no client with this id."}


def clinic_on_another_day(client: TestClient, admin: dict[str, str]) -> date:
    """Put the clinic in a time zone whose date is not this server's, and return the clinic's date."""
    # UTC+14 is a day ahead of UTC from 10:00 UTC, UTC-12 a day behind until 12:00 UTC: one of them always differs
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12"):
        clinic_today = datetime.now(ZoneInfo(zone)).date()
        if clinic_today != date.today():  # noqa: DTZ011 (the server's own day, which the clinic's must not be mistaken for)
            assert client.put("/api/v1/settings", headers=admin, json={"timezone": zone}).status_code == 200
            return clinic_today
    pytest.skip("this server's time zone is on the same day as both test zones")


def test_a_date_of_birth_is_checked_against_the_clinics_day(
    client: TestClient, admin: dict[str, str], front_desk: dict[str, str]
) -> None:
    today = clinic_on_another_day(client, admin)
    born_today = register(client, front_desk, date_of_birth=today.isoformat())
    tomorrow = (today + timedelta(days=1)).isoformat()
    refused = [
        client.post(
            URL,
            headers=front_desk,
            json={"first_name": "Not", "last_name": "Yet", "date_of_birth": tomorrow, "email": "not.yet@example.com"},
        ),
        client.patch(f"{URL}/{born_today['id']}", headers=front_desk, json={"date_of_birth": tomorrow}),
    ]
    for response in refused:
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [{"field": "date_of_birth", "message": "cannot be in the future"}]
