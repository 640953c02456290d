"""Rooms and devices: registration with a one-time MQTT password, moving, taking out of service."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.broker_passwords import is_broker_hash
from db.models import Device, GatewayPresence, Role
from tests.api.clinic import ok


def test_register_a_device_into_a_room(client: TestClient, as_role: dict, db: Session) -> None:
    admin = as_role[Role.ADMIN]
    room = ok(client.post("/api/v1/rooms", headers=admin, json={"name": "Rose room"}), 201)
    made = ok(
        client.post(
            "/api/v1/devices", headers=admin, json={"serial": "GX-1001", "room_id": room["id"], "probe_area_cm2": 0.3}
        ),
        201,
    )
    assert made["device_id"].startswith("gd-") and made["state"] == "offline" and made["status"] == "in_service"
    password = made["mqtt_password"]
    stored = db.scalar(select(Device).where(Device.serial == "GX-1001"))
    assert stored is not None and password not in stored.mqtt_password_hash
    assert is_broker_hash(stored.mqtt_password_hash)  # tests/test_deployment.py: Mosquitto lets it in
    read = ok(client.get(f"/api/v1/devices/{made['id']}", headers=as_role[Role.FRONT_DESK]))
    assert "mqtt_password" not in read and read["device_id"] == made["device_id"]
    assert [d["serial"] for d in ok(client.get("/api/v1/devices", headers=admin, params={"room_id": room["id"]}))] == [
        "GX-1001"
    ]


def test_duplicates_and_unknown_rooms(client: TestClient, as_role: dict) -> None:
    admin = as_role[Role.ADMIN]
    room = ok(client.post("/api/v1/rooms", headers=admin, json={"name": "A"}), 201)
    assert client.post("/api/v1/rooms", headers=admin, json={"name": "A"}).status_code == 409
    body = {"serial": "S1", "room_id": room["id"], "probe_area_cm2": 0.5}
    ok(client.post("/api/v1/devices", headers=admin, json=body), 201)
    assert client.post("/api/v1/devices", headers=admin, json=body).status_code == 409
    unknown = client.post(
        "/api/v1/devices",
        headers=admin,
        json=body | {"serial": "S2", "room_id": "3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b"},
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "room_id"
    for bad, field in [
        ({"probe_area_cm2": 0}, "probe_area_cm2"),
        ({"serial": ""}, "serial"),
        ({"probe_area_cm2": "big"}, "probe_area_cm2"),
    ]:
        response = client.post("/api/v1/devices", headers=admin, json=body | {"serial": "S3"} | bad)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field


def test_move_take_out_of_service_and_revoke(client: TestClient, as_role: dict) -> None:
    admin = as_role[Role.ADMIN]
    first = ok(client.post("/api/v1/rooms", headers=admin, json={"name": "A"}), 201)
    second = ok(client.post("/api/v1/rooms", headers=admin, json={"name": "B"}), 201)
    device = ok(
        client.post(
            "/api/v1/devices", headers=admin, json={"serial": "S1", "room_id": first["id"], "probe_area_cm2": 0.5}
        ),
        201,
    )
    url = f"/api/v1/devices/{device['id']}"
    moved = ok(client.patch(url, headers=admin, json={"room_id": second["id"]}))
    assert moved["device"]["room_id"] == second["id"]
    assert ok(client.patch(url, headers=admin, json={"status": "out_of_service"}))["device"]["status"] == (
        "out_of_service"
    )
    ok(client.patch(url, headers=admin, json={"status": "revoked"}))
    assert client.patch(url, headers=admin, json={"status": "in_service"}).status_code == 409


def test_a_device_that_lost_its_password_gets_a_new_one(client: TestClient, as_role: dict, db: Session) -> None:
    admin = as_role[Role.ADMIN]
    room = ok(client.post("/api/v1/rooms", headers=admin, json={"name": "Iris room"}), 201)
    made = ok(
        client.post(
            "/api/v1/devices", headers=admin, json={"serial": "GX-2001", "room_id": room["id"], "probe_area_cm2": 0.3}
        ),
        201,
    )
    old_hash = db.scalar(select(Device.mqtt_password_hash).where(Device.serial == "GX-2001"))
    again = ok(client.post(f"/api/v1/devices/{made['id']}/mqtt-password", headers=admin))
    assert again["device_id"] == made["device_id"] and again["mqtt_password"] != made["mqtt_password"]
    db.expire_all()
    new_hash = db.scalar(select(Device.mqtt_password_hash).where(Device.serial == "GX-2001"))
    assert new_hash != old_hash and is_broker_hash(new_hash or "")
    ok(client.patch(f"/api/v1/devices/{made['id']}", headers=admin, json={"status": "revoked"}))
    refused = client.post(f"/api/v1/devices/{made['id']}/mqtt-password", headers=admin)
    assert refused.status_code == 409 and "revoked" in refused.json()["detail"]


def test_a_devices_state_is_live_only_while_a_gateway_listens(client: TestClient, as_role: dict, db: Session) -> None:
    admin = as_role[Role.ADMIN]
    room = ok(client.post("/api/v1/rooms", headers=admin, json={"name": "Lotus room"}), 201)
    made = ok(
        client.post(
            "/api/v1/devices", headers=admin, json={"serial": "GX-3001", "room_id": room["id"], "probe_area_cm2": 0.3}
        ),
        201,
    )
    assert made["state_live"] is False  # no gateway: "offline" is only what the database last heard
    db.add(GatewayPresence(client_id="galvani-gateway", connected=True, seen_at=utcnow()))
    db.commit()
    assert ok(client.get(f"/api/v1/devices/{made['id']}", headers=as_role[Role.FRONT_DESK]))["state_live"] is True
    db.merge(GatewayPresence(client_id="galvani-gateway", connected=True, seen_at=utcnow() - timedelta(seconds=11)))
    db.commit()
    [listed] = ok(client.get("/api/v1/devices", headers=admin, params={"room_id": room["id"]}))
    assert listed["state_live"] is False  # the gateway has been silent too long
