"""The current-density rule, written once: booking picks a device by it and starting a session checks it again."""

from db.models import Device, Protocol

# IEC 60601-2-10 asks for special attention above 2 mA/cm² at an electrode (shared/domain.md).
MAX_DENSITY_UA_PER_CM2 = 2000


def density_ua_per_cm2(protocol: Protocol, device: Device) -> float:
    """The protocol's highest current over the device's probe contact area."""
    return protocol.max_current_ua / device.probe_area_cm2


def fits(protocol: Protocol, device: Device) -> bool:
    """Whether the protocol's highest current stays within the limit on this device's probes."""
    return density_ua_per_cm2(protocol, device) <= MAX_DENSITY_UA_PER_CM2


def too_dense(protocol: Protocol, device: Device, *, of: str) -> str:
    """Why the protocol does not fit the device, in words: `of` names the device ("Room 1's device")."""
    return (
        f"{protocol.max_current_ua:g} µA on the {device.probe_area_cm2:g} cm² probes of {of} is "
        f"{density_ua_per_cm2(protocol, device) / 1000:.2f} mA/cm², above {MAX_DENSITY_UA_PER_CM2 / 1000:g} mA/cm²"
    )
