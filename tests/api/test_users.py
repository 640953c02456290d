"""Staff accounts managed by admins."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db.models import Role, User
from tests.api.clinic import log_in

URL = "/api/v1/users"


def new_user(**fields: str) -> dict[str, str]:
    return {
        "email": "hire@clinic.example.com",
        "password": "long-enough-pw",
        "full_name": "New Hire",
        "role": "esthetician",
    } | fields


def test_admin_creates_a_user_who_can_log_in(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(URL, headers=admin, json=new_user(email="Hire@Clinic.Example.com"))
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"], body["is_active"]) == ("hire@clinic.example.com", "esthetician", True)
    assert "password" not in body and "password_hash" not in body
    assert log_in(client, "hire@clinic.example.com", "long-enough-pw")[0] == 200


def test_same_email_twice_is_a_conflict(client: TestClient, admin: dict[str, str]) -> None:
    client.post(URL, headers=admin, json=new_user())
    response = client.post(URL, headers=admin, json=new_user(full_name="Someone Else"))
    assert response.status_code == 409


def test_list_and_read(client: TestClient, admin: dict[str, str], staff: dict[Role, User]) -> None:
    listed = client.get(URL, headers=admin).json()
    assert {u["id"] for u in listed} >= {str(u.id) for u in staff.values()}
    one = client.get(f"{URL}/{staff[Role.FRONT_DESK].id}", headers=admin).json()
    assert one["role"] == "front_desk"


def test_password_change_works(client: TestClient, admin: dict[str, str], staff: dict[Role, User]) -> None:
    user = staff[Role.FRONT_DESK]
    client.patch(f"{URL}/{user.id}", headers=admin, json={"password": "a-brand-new-password"})
    assert log_in(client, user.email, "a-brand-new-password")[0] == 200


def test_the_last_admin_cannot_be_removed(
    client: TestClient, staff: dict[Role, User], admin: dict[str, str], db: Session
) -> None:
    me = staff[Role.ADMIN]
    for change in ({"is_active": False}, {"role": "esthetician"}):
        response = client.patch(f"{URL}/{me.id}", headers=admin, json=change)
        assert response.status_code == 409
        assert "last active admin" in response.json()["detail"]
    other = client.post(URL, headers=admin, json=new_user(role="admin")).json()
    assert client.patch(f"{URL}/{me.id}", headers=admin, json={"role": "esthetician"}).status_code == 200
    assert other["role"] == "admin"


def test_unknown_user_is_404(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get(f"{URL}/3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b", headers=admin).status_code == 404
