"""GET /api/v1/settings says whether the clinic's time zone and opening hours were confirmed: an admin confirms them
by saving both, and nothing else does."""

from fastapi.testclient import TestClient

URL = "/api/v1/settings"
HOURS = {"monday": {"open": "09:00", "close": "18:00"}, "sunday": None}


def test_defaults_are_not_confirmed(client: TestClient, front_desk: dict[str, str]) -> None:
    body = client.get(URL, headers=front_desk).json()
    assert (body["confirmed"], body["confirmed_at"]) == (False, None)


def test_saving_the_zone_and_the_hours_confirms_them(
    client: TestClient, admin: dict[str, str], front_desk: dict[str, str]
) -> None:
    alone = client.put(URL, headers=admin, json={"timezone": "Europe/Dublin"})
    assert alone.status_code == 200, alone.text
    assert alone.json()["confirmed"] is False  # the hours are still the guessed ones
    both = client.put(URL, headers=admin, json={"timezone": "Europe/Dublin", "opening_hours": HOURS})
    assert both.status_code == 200, both.text
    assert both.json()["confirmed"] is True and both.json()["confirmed_at"] is not None
    later = client.put(URL, headers=admin, json={"buffer_minutes": 10}).json()
    assert (later["confirmed"], later["confirmed_at"]) == (True, both.json()["confirmed_at"])  # stays confirmed
    read = client.get(URL, headers=front_desk).json()
    assert (read["confirmed"], read["timezone"], read["buffer_minutes"]) == (True, "Europe/Dublin", 10)


def test_a_refused_save_confirms_nothing(client: TestClient, admin: dict[str, str]) -> None:
    wrong = {"timezone": "Europe/Dublin", "opening_hours": {"monday": {"open": "18:00", "close": "09:00"}}}
    refused = client.put(URL, headers=admin, json=wrong)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "opening_hours.monday", "message": "the opening time must come before the closing time"}
    ]
    assert client.get(URL, headers=admin).json()["confirmed"] is False


def test_only_an_admin_confirms(client: TestClient, front_desk: dict[str, str]) -> None:
    refused = client.put(URL, headers=front_desk, json={"timezone": "Europe/Dublin", "opening_hours": HOURS})
    assert refused.status_code == 403
    assert client.get(URL, headers=front_desk).json()["confirmed"] is False
