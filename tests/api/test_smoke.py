from fastapi.testclient import TestClient


def test_health_reports_the_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "database": "ok",
        "broker": "embedded",
        "gateway": "down",
        "gateways": [],
    }


def test_registered_client_is_found(client: TestClient, front_desk: dict[str, str]) -> None:
    created = client.post(
        "/api/v1/clients",
        headers=front_desk,
        json={"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10", "email": "ada@example.com"},
    )
    assert created.status_code == 201, created.text
    found = client.get("/api/v1/clients", params={"q": "LOVE"}, headers=front_desk).json()
    assert [c["id"] for c in found["items"]] == [created.json()["id"]]
