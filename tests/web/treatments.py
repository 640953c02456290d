"""Setting up a treatment through the API for the browser tests: asking the API until something happens, and
booking a one-session series a couple of minutes ahead in a room of the test's own."""

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest

from tests.web.conftest import Clinic

WAIT_S = 60.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Ask the API until `check` answers something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.1)  # the next question to the API, not a guess at how long the device takes
    pytest.fail(f"{what} did not happen within {timeout:.0f} s")


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def book_soon(clinic: Clinic, desk: dict[str, str], *, client_id: str, room_id: str, esthetician_email: str) -> str:
    """One session of the approved demo protocol two minutes from now, with that esthetician; its appointment id."""
    [protocol] = httpx.get(f"{clinic.url}/api/v1/protocols", headers=desk, params={"status": "approved"}).json()
    staff = httpx.get(f"{clinic.url}/api/v1/users", headers=desk).json()
    esthetician = next(u for u in staff if u["email"] == esthetician_email)
    soon = datetime.now(ZoneInfo(clinic.timezone)).replace(second=0, microsecond=0) + timedelta(minutes=2)
    series = created(
        httpx.post(
            f"{clinic.url}/api/v1/series",
            headers=desk,
            json={
                "client_id": client_id,
                "protocol_id": protocol["id"],
                "esthetician_id": esthetician["id"],
                "room_id": room_id,
                "start_at": soon.isoformat(),
                "plan": {"intensive": {"sessions": 1, "per_week": 1}},
            },
        )
    )
    return str(series["appointments"][0]["id"])
