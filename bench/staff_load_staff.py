"""The load run's virtual staff (bench/staff_load.py): asyncio tasks, each signed in with its own account on its own
keep-alive HTTPS connection (httpx), timing every request by operation.

- Front desk: look clients up (45 %), open one (35 %), book a 12-session series for a new client (20 %), each on
  a lane of bench/series_booking.py kept free so that every booking must answer 201.
- Esthetician, round their three rooms, each with an appointment due now: the room's appointments of the day, open
  the client, screen them, check that the room's device is idle, start the appointment (from the second round on,
  a start resumes that treatment: the device gets what is left of the protocol), read the record until the device
  treats (it presses start a moment after it is armed), look clients up and open them while it treats, stop it,
  read the record until it says stopped.

Every request of the run is an operation of the table; any answer but the expected one is an error.
"""

import asyncio
import random
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

import clients_search as base
import httpx2 as httpx
import series_booking as booking
from staff_load_clinic import Account, Clinic, Due, booking_lane

from bench.gateway.settings import DAY_OF, NO_ANSWERS

POLL_S = 1.0  # how often a waiting esthetician reads the record or the device again
WAIT_S = 30.0  # longest wait for a device to be idle, to treat, or to confirm the stop
FINAL = {"stopped", "completed", "interrupted", "rejected"}


@dataclass
class Tally:
    """Every request's latency by operation (with when it began), the errors, and what the run started."""

    began: float = field(default_factory=time.monotonic)
    latencies: defaultdict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    errors: list[tuple[str, int, str]] = field(default_factory=list)  # (operation, status or 0, what came back)
    problems: list[str] = field(default_factory=list)  # waits that ran out
    started: dict[str, str] = field(default_factory=dict)  # session id -> its last status as the record said
    missing: dict[str, int] = field(default_factory=dict)  # session id -> missing_count in its final record
    booked: int = 0


@dataclass
class Run:
    """What every virtual user shares: the clinic, the deadline, the tally and the shared lane counter."""

    clinic: Clinic
    deadline: float
    think_s: float
    treat_s: tuple[float, float]
    tally: Tally
    rng: random.Random
    lane: int = 0

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    async def think(self) -> None:
        await asyncio.sleep(self.think_s * self.rng.uniform(0.5, 1.5))


def tls_client(base_url: str, ca_file: str) -> httpx.AsyncClient:
    """One keep-alive HTTPS connection per virtual user, checking the site's certificate against the clinic CA."""
    return httpx.AsyncClient(
        base_url=base_url,
        verify=ssl.create_default_context(cafile=ca_file),
        timeout=60.0,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


async def timed(
    http: httpx.AsyncClient, tally: Tally, operation: str, method: str, path: str, expect: int = 200, **kw: Any
) -> Any:
    """One request; its latency under `operation`; None (and an error) unless it answered `expect`."""
    began = time.monotonic()
    try:
        answer = await http.request(method, path, **kw)
    except httpx.HTTPError as exc:
        tally.latencies[operation].append((began, (time.monotonic() - began) * 1000))
        tally.errors.append((operation, 0, repr(exc)[:300]))
        return None
    tally.latencies[operation].append((began, (time.monotonic() - began) * 1000))
    if answer.status_code != expect:
        tally.errors.append((operation, answer.status_code, answer.text[:300]))
        return None
    return answer.json()


def search_text(rng: random.Random) -> str:
    """What staff type: a last-name prefix, a first name, or four digits of a phone number."""
    kind = rng.random()
    if kind < 0.5:
        last = rng.choice(base.LAST_NAMES)
        return last[: rng.randint(3, max(3, len(last)))].lower()
    if kind < 0.8:
        return rng.choice(base.FIRST_NAMES).lower()
    return f"{rng.randrange(10_000):04d}"


async def search(http: httpx.AsyncClient, run: Run, q: str) -> list[str]:
    found = await timed(http, run.tally, "search clients", "GET", "/api/v1/clients", params={"q": q, "limit": 20})
    return [item["id"] for item in found["items"]] if found else []


async def open_client(http: httpx.AsyncClient, run: Run, client_id: str) -> None:
    await timed(http, run.tally, "open client", "GET", f"/api/v1/clients/{client_id}")


async def front_desk(run: Run, http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    while not run.over():
        pick = run.rng.random()
        if pick < 0.45:
            seen = await search(http, run, search_text(run.rng)) or seen
        elif pick < 0.8:
            await open_client(http, run, run.rng.choice(seen or run.clinic.all_clients))
        else:
            await book(http, run)
        await run.think()


async def book(http: httpx.AsyncClient, run: Run) -> None:
    clinic = run.clinic
    if run.lane >= len(clinic.booking_clients):
        raise RuntimeError("out of clients to book: give more --clients")
    lane, client_id = booking_lane(run.lane), clinic.booking_clients[run.lane]
    run.lane += 1
    day = datetime.now(UTC).date() + timedelta(days=lane.day)
    body = {
        "client_id": client_id,
        "protocol_id": clinic.protocol_id,
        "esthetician_id": clinic.booking_estheticians[
            lane.room * booking.ESTHETICIANS_PER_ROOM + lane.hour % booking.ESTHETICIANS_PER_ROOM
        ],
        "room_id": clinic.rooms[lane.room].room_id,
        "start_at": datetime.combine(day, clock(lane.hour), tzinfo=UTC).isoformat(),
        "plan": booking.PLAN,
    }
    if await timed(http, run.tally, "book series", "POST", "/api/v1/series", 201, json=body) is not None:
        run.tally.booked += 1


async def esthetician(run: Run, http: httpx.AsyncClient, account: Account) -> None:
    """Treatments round their rooms; from the second round on, each start resumes the room's treatment."""
    rooms = run.clinic.staff_due.get(account.email, [])
    turn = 0
    while rooms and not run.over():
        await treat(run, http, rooms[turn % len(rooms)], resume=turn >= len(rooms))
        turn += 1


async def treat(run: Run, http: httpx.AsyncClient, due: Due, *, resume: bool) -> None:
    """One treatment (or a part of it), from the room's day to the stop confirmed."""
    tally = run.tally
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = {"room_id": due.room.room_id, "start": today.isoformat(), "end": (today + timedelta(days=1)).isoformat()}
    await timed(http, tally, "room's appointments", "GET", "/api/v1/appointments", params=day)
    await run.think()
    await open_client(http, run, due.client_id)
    await run.think()
    screened = await timed(
        http,
        tally,
        "screen",
        "POST",
        f"/api/v1/clients/{due.client_id}/screenings",
        201,
        json={"answers": NO_ANSWERS},
    )
    if screened is None:
        return
    if not await wait_for(
        run, http, "device state", f"/api/v1/devices/{due.room.device_row_id}", lambda d: d["state"] == "idle"
    ):
        tally.problems.append(f"device {due.room.device_id} not idle after {WAIT_S:.0f} s")
        return
    operation = "resume session" if resume else "start session"
    start = f"/api/v1/appointments/{due.appointment_id}/start"
    started = await timed(http, tally, operation, "POST", start, 201, json={"day_of": DAY_OF})
    if started is None:
        return
    session_id = str(started["session_id"])
    tally.started[session_id] = str(started["status"])
    record = f"/api/v1/sessions/{session_id}"
    if not await wait_for(run, http, "read session record", record, lambda s: s["status"] != "pending", session_id):
        tally.problems.append(f"session {session_id} still pending after {WAIT_S:.0f} s")
    elif not await wait_for(run, http, "read session record", record, lambda s: s["status"] != "armed", session_id):
        tally.problems.append(f"session {session_id} not treating {WAIT_S:.0f} s after it was armed")
    until = time.monotonic() + run.rng.uniform(*run.treat_s)
    while time.monotonic() < until and not run.over():
        await run.think()
        found = await search(http, run, search_text(run.rng))
        await run.think()
        await open_client(http, run, run.rng.choice(found or run.clinic.all_clients))
    await timed(http, tally, "stop session", "POST", f"{record}/stop")
    if not await wait_for(run, http, "read session record", record, lambda s: s["status"] in FINAL, session_id):
        tally.problems.append(f"session {session_id} not ended {WAIT_S:.0f} s after its stop")
    await run.think()


async def wait_for(
    run: Run, http: httpx.AsyncClient, operation: str, path: str, done: Any, session_id: str | None = None
) -> bool:
    """Read `path` every POLL_S until `done(answer)`, for at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        answer = await timed(http, run.tally, operation, "GET", path)
        if answer is not None:
            if session_id is not None:
                run.tally.started[session_id] = str(answer["status"])
                run.tally.missing[session_id] = int(answer.get("missing_count", 0))
            if done(answer):
                return True
        await asyncio.sleep(POLL_S)
    return False


async def staff_run(run: Run, base_url: str, ca_file: str, tokens: dict[str, dict[str, str]]) -> None:
    """Every virtual user at once, each on its own connection, starting a random moment apart."""

    async def one(account: Account) -> None:
        async with tls_client(base_url, ca_file) as http:
            http.headers.update(tokens[account.email])
            await asyncio.sleep(run.rng.uniform(0, run.think_s))
            if account in run.clinic.front_desk:
                await front_desk(run, http)
            else:
                await esthetician(run, http, account)

    await asyncio.gather(*(one(a) for a in (*run.clinic.front_desk, *run.clinic.estheticians)))


async def flat_out(base_url: str, ca_file: str, path: str, users: int, seconds: float) -> list[float]:
    """The ceiling: `users` connections requesting `path` back to back for `seconds`; latencies in ms."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal errors
        async with tls_client(base_url, ca_file) as http:
            while time.monotonic() < deadline:
                began = time.monotonic()
                answer = await http.get(path)
                latencies.append((time.monotonic() - began) * 1000)
                errors += answer.status_code != 200

    await asyncio.gather(*(one() for _ in range(users)))
    if errors:
        raise RuntimeError(f"the ceiling's {path} failed {errors} times")
    return latencies
