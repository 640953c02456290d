"""The device tolerance, one rule for all who use it: the API arming a device with its caps, the gateway's interlock
stopping a device above a step's cap, and the treatment room's chart drawing that cap."""


def with_tolerance(value: float, tolerance_percent: float) -> float:
    """`value` and the tolerance above it: a step's current cap from its current, a session's output cap from its
    time."""
    return value * (1 + tolerance_percent / 100)
