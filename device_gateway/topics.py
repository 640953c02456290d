"""Topic names of device protocol v1 (shared/device-protocol.md)."""

ROOT = "clinic/v1"
DEVICES_ROOT = f"{ROOT}/devices"
# What the gateway subscribes to: everything every device reports.
DEVICE_REPORTS = tuple(f"{DEVICES_ROOT}/+/{leaf}" for leaf in ("status", "acks", "events", "telemetry"))
GATEWAY_STATUS = f"{ROOT}/gateway/status"
# Mosquitto's count of QoS 1 messages it dropped, since it started, because a client's queue was full.
BROKER_DROPPED = "$SYS/broker/publish/messages/dropped"
ONLINE = b'{"v":1,"state":"online"}'
OFFLINE = b'{"v":1,"state":"offline"}'


def device_topic(device_id: str, leaf: str) -> str:
    return f"{DEVICES_ROOT}/{device_id}/{leaf}"
