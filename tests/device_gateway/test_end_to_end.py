"""End to end: the API starts a session, the gateway arms a simulated device over real Mosquitto, the device
treats, and the gateway records what it delivered, or stops it."""

import json
import uuid

import pytest
from sqlalchemy import func, select

from db.models import DeviceCommand, TreatmentSession
from device_gateway import topics
from tests.device_gateway.conftest import STEPS, RealClinic, Wire, eventually
from tests.mqtt import Subscriber


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"], indirect=True)
def test_a_whole_session_and_its_delivered_current(clinic: RealClinic) -> None:
    device = clinic.device()
    try:
        started = clinic.start()
        eventually(lambda: device.state == "armed")
        assert clinic.session(started["session_id"], "armed")["armed_at"]
        device.press_start()
        record = clinic.session(started["session_id"], "completed")
    finally:
        device.stop()
    first, second = record["steps"]
    assert (first["prescribed_current_ua"], second["prescribed_current_ua"]) == (200, 150)
    assert first["output_s"] == pytest.approx(20.0) and second["output_s"] == pytest.approx(10.0)
    assert first["delivered_mean_ua"] == pytest.approx(200.0, rel=0.01)
    expected_charge = 200 * 20 + 150 * 10  # µC
    assert record["total_charge_uc"] == pytest.approx(expected_charge, rel=0.01)
    assert record["missing_seqs"] == [] and record["incidents"] == []


def test_an_alternating_session_completes_unstopped_and_delivers_its_current(clinic: RealClinic, wire: Wire) -> None:
    assert {step["polarity"] for step in STEPS} == {"alternating"}
    device = clinic.device()
    try:
        session_id, record = clinic.run_session(device, "completed")
    finally:
        device.stop()
    assert min(json.loads(wire.next_over(0).payload)["current_ua"]) < -199  # −I went over the wire
    with clinic.factory() as session:
        stops = session.scalar(select(func.count()).select_from(DeviceCommand).where(DeviceCommand.kind == "stop"))
    assert (stops, clinic.gateway.counters["interlock_stops"], record["incidents"]) == (0, 0, [])
    for step, prescribed in zip(record["steps"], STEPS, strict=True):
        assert step["delivered_mean_ua"] == pytest.approx(prescribed["current_ua"], rel=0.01)
        assert step["delivered_peak_ua"] == pytest.approx(prescribed["current_ua"], rel=0.01)
        assert step["output_s"] == pytest.approx(prescribed["duration_s"])
    assert record["total_charge_uc"] == pytest.approx(200 * 20 + 150 * 10, rel=0.01)  # ∫|I| dt


def test_a_contraindicated_client_is_never_armed(clinic: RealClinic) -> None:
    device = clinic.device()
    commands = Subscriber(clinic.port, topics.device_topic(clinic.mqtt_id, "commands"))
    try:
        refused = clinic.start(status=409, pregnant=True)
        assert [r["code"] for r in refused["reasons"]] == ["pregnancy"]
        started = clinic.start()  # then a session that may start: its command must be the first one seen
        first = json.loads(commands.next_payload())
        assert (first["type"], first["session_id"]) == ("load_protocol", started["session_id"])
    finally:
        commands.close()
        device.stop()


def test_over_current_stops_the_device(clinic: RealClinic) -> None:
    device = clinic.device(over_current_ua=400)
    try:
        session_id, record = clinic.run_session(device, "stopped")
    finally:
        device.stop()
    [incident] = record["incidents"]
    assert incident["kind"] == "over_current" and "above its cap of 220 µA" in incident["detail"]
    assert record["total_output_s"] < 20  # stopped within the first step


def test_a_device_lost_mid_session(clinic: RealClinic) -> None:
    device = clinic.device()
    try:
        started = clinic.start()
        clinic.session(started["session_id"], "armed")  # its answer stored: a disconnect can no longer lose it
        device.disconnect()  # the broker sends the device's Will: offline
        record = clinic.session(started["session_id"], "interrupted")
    finally:
        device.stop()
    assert [i["kind"] for i in record["incidents"]] == ["device_offline"]
    with clinic.factory() as session:
        treatment = session.get(TreatmentSession, uuid.UUID(started["session_id"]))
        assert treatment is not None and treatment.ended_at is not None
