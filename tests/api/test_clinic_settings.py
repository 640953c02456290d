"""Clinic settings: defaults, changes by an admin, validation."""

from fastapi.testclient import TestClient

URL = "/api/v1/settings"
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def test_defaults_every_day_eight_to_eight_in_the_configured_zone(
    client: TestClient, front_desk: dict[str, str]
) -> None:
    body = client.get(URL, headers=front_desk).json()
    assert body["timezone"] == "Europe/London"  # GALVANI_CLINIC_TIMEZONE in the test settings
    assert body["opening_hours"] == {day: {"open": "08:00:00", "close": "20:00:00"} for day in WEEKDAYS}
    assert body["updated_at"] is None
    assert (body["preparation_minutes"], body["buffer_minutes"]) == (30, 0)
    assert body["current_limits"] == {"max_current_ua": 600, "tolerance_percent": 10}
    assert body["cadence"] == {"min_hours_between_sessions": 48, "max_sessions_per_7_days": 3}
    assert body["modes"] == ["LIFT", "TIGHTEN", "INFUSE"]


def test_admin_changes_some_fields_and_the_rest_stay(
    client: TestClient, admin: dict[str, str], front_desk: dict[str, str]
) -> None:
    hours = {day: {"open": "09:00", "close": "18:30"} for day in WEEKDAYS} | {"sunday": None}
    response = client.put(URL, headers=admin, json={"opening_hours": hours})
    assert response.status_code == 200, response.text
    response = client.put(URL, headers=admin, json={"timezone": "America/New_York"})
    body = client.get(URL, headers=front_desk).json()
    assert body["timezone"] == "America/New_York"
    assert body["opening_hours"]["sunday"] is None
    assert body["opening_hours"]["monday"] == {"open": "09:00:00", "close": "18:30:00"}
    assert body["updated_at"] is not None


def test_a_day_left_out_of_opening_hours_gets_the_default(client: TestClient, admin: dict[str, str]) -> None:
    body = client.put(URL, headers=admin, json={"opening_hours": {"monday": None}}).json()
    assert body["opening_hours"]["monday"] is None
    assert body["opening_hours"]["tuesday"] == {"open": "08:00:00", "close": "20:00:00"}


def test_bad_settings_are_refused_and_nothing_changes(client: TestClient, admin: dict[str, str]) -> None:
    cases = [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"opening_hours": {"monday": {"open": "20:00", "close": "08:00"}}}, "opening_hours.monday"),
        ({"opening_hours": {"monday": {"open": "25:00", "close": "26:00"}}}, "opening_hours.monday.open"),
        ({"opening_hours": {"funday": None}}, "opening_hours.funday"),
        ({"opening_hours": {"monday": {"open": "08:00"}}}, "opening_hours.monday.close"),
        ({"currency": "EUR"}, "currency"),
        ({"current_limits": {"max_current_ua": 900}}, "current_limits.max_current_ua"),
        ({"cadence": {"max_sessions_per_7_days": 0}}, "cadence.max_sessions_per_7_days"),
        ({"preparation_minutes": -5}, "preparation_minutes"),
        ({"modes": ["lift"]}, "modes.0"),
        ({"modes": []}, "modes"),
    ]
    for body, field in cases:
        response = client.put(URL, headers=admin, json=body)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]], (body, response.json())
    assert client.get(URL, headers=admin).json()["updated_at"] is None
