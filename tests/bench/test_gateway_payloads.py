"""The gateway benchmark's devices send the simulator's own payloads, however fast it fills them in."""

import uuid

from bench.gateway.support import telemetry_block
from device_gateway import simulated_messages
from device_gateway.simulated_session import sample_currents


def test_a_telemetry_block_is_the_simulators_byte_for_byte() -> None:
    session = str(uuid.uuid4())
    for seq, current_ua in ((1, 200.0), (7, 200.0), (2, 400.0)):
        assert telemetry_block(session, seq, current_ua) == simulated_messages.telemetry(
            session,
            seq,
            step=0,
            t_ms=(seq - 1) * 1000,
            current_ua=sample_currents(current_ua, (seq - 1) * 10, 10),
        )
