"""Topic names of device protocol v1 (shared/device-protocol.md)."""

ROOT = "clinic/v1"
GATEWAY_STATUS = f"{ROOT}/gateway/status"
ONLINE = b'{"v":1,"state":"online"}'
OFFLINE = b'{"v":1,"state":"offline"}'


def device_topic(device_id: str, leaf: str) -> str:
    return f"{ROOT}/devices/{device_id}/{leaf}"
