"""The load run's devices (bench/staff_load.py): device_gateway/simulator.py's SimulatedDevice, one per device, each
logging in to the broker over TLS with its own password, in a process of their own.

Each device presses start `press_after_s` after it is armed (as `galvani simulate` does after 5 s) and notes the wall
time at which it hands each session message to paho, so that the main process can tell what was sent, whether it
was stored, and how long the gateway took to store it.
"""

import contextlib
import ssl
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from device_gateway.simulator import SimulatedDevice

CONNECT_TIMEOUT_S = 120.0  # 200 TLS handshakes and logins on a busy 2-core machine
PRESS_POLL_S = 0.2

Sent = tuple[str, int, str, float]  # (session_id, seq, leaf, wall time handed to paho)


class RecordingDevice(SimulatedDevice):
    """A simulated device that notes each session message it sends (leaf and seq, from the simulator's own send)."""

    def __init__(self, *args: Any, sent: list[Sent], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent = sent

    def _send_copies(self, leaf: str, payload: bytes, seq: int) -> None:
        session = self._session  # called under the device's lock, for its current session
        if session is not None:
            self._sent.append((session.session_id, seq, leaf, time.time()))  # list.append is atomic
        super()._send_copies(leaf, payload, seq)


def run_devices(credentials: dict[str, str], port: int, ca_file: str, press_after_s: float, pipe: Connection) -> None:
    """The device process: connect every device, say "online", press start on armed devices until told "stop",
    then switch them off and send back what they sent."""
    tls = ssl.create_default_context(cafile=ca_file)
    sent: list[Sent] = []
    devices = [
        RecordingDevice(device_id, password, host="127.0.0.1", port=port, tls=tls, sent=sent)
        for device_id, password in credentials.items()
    ]
    for device in devices:
        device.start(timeout=None)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    offline = [d.device_id for d in devices if not d.online.wait(max(0.0, deadline - time.monotonic()))]
    pipe.send({"offline": offline, "refused": {d.device_id: str(d.refused) for d in devices if d.refused}})
    stopping = threading.Event()
    presser = threading.Thread(target=_press_start_when_armed, args=(devices, press_after_s, stopping), daemon=True)
    presser.start()
    while pipe.recv() != "stop":
        continue
    stopping.set()
    presser.join(timeout=5)
    for device in devices:
        device.stop()
    pipe.send(sent)


def _press_start_when_armed(devices: list[RecordingDevice], press_after_s: float, stopping: threading.Event) -> None:
    armed_since: dict[str, float] = {}
    while not stopping.wait(PRESS_POLL_S):
        now = time.monotonic()
        for device in devices:
            if device.state != "armed":
                armed_since.pop(device.device_id, None)
                continue
            if now - armed_since.setdefault(device.device_id, now) >= press_after_s:
                with contextlib.suppress(RuntimeError):  # stopped meanwhile
                    device.press_start()
                armed_since.pop(device.device_id, None)
