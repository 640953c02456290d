"""Series booking benchmark (issue 4): POST /api/v1/series, 12 sessions, into a clinic holding N appointments.

Recreates the `galvani_bench_booking` PostgreSQL database and bulk-loads a clinic: 20 rooms with one device
in service each, 40 estheticians, one approved protocol (35-minute appointments) and N booked appointments
over the next two years, in short series of 4 sessions (one series per client), none overlapping for a
room, a device or an esthetician and each client within the cadence. Then it starts the real app under
uvicorn, logs in as a front-desk user and, at each concurrency level, books fresh clients into 12-session
series (2 a week), each on its own room, hour and days so that every booking must answer 201:

- "busy calendar": slots kept free amid the N appointments (spread over eight 6-week windows of the two
  years), where a booking really goes;
- "after the calendar": a third year that holds nothing yet, every appointment of the room before it.

It also posts, again and again, a series whose 12th session collides with an existing appointment in the
busy calendar (a 409 listing that session), and measures two ceilings: the same write done directly with
SQLAlchemy Core (1 series and 12 appointment rows in one transaction), and a bare FastAPI app under the same
uvicorn settings. Beside p50 and p99 it prints the CPU each request cost the server's processes and
PostgreSQL's backends of galvani_bench_booking (read from /proc), which a busy machine moves much less than
the latencies. The galvani_bench_booking database is left in place afterwards, to look at with psql.

    .venv/bin/python bench/series_booking.py          # 50,000 appointments, 300 bookings, 100 conflicts, c=1,4
    .venv/bin/python bench/series_booking.py --appointments 50000 --bookings 300 --workers 1 --concurrency 1,4
"""

import argparse
import http.client
import json
import math
import random
import secrets
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

# bench/ is not a package: this script's folder is sys.path[0] when it runs, so its sibling imports.
import clients_search as base
from common import bench_url, int_list, recreate_database, vacuum_analyze
from sqlalchemy import Connection, Engine, create_engine, func, insert, select

from db.migrate import upgrade
from db.models import (
    Appointment,
    AppointmentStatus,
    Client,
    Device,
    DeviceStatus,
    Protocol,
    ProtocolStatus,
    Role,
    Room,
    Series,
    User,
)
from db.models.client import client_search_text

DATABASE = "galvani_bench_booking"
BENCH_URL = bench_url(DATABASE)
BATCH_SIZE = 5000
SEED = 4

ROOMS = 20
ESTHETICIANS_PER_ROOM = 2  # one takes the even hours of the room, the other the odd hours
HOURS = tuple(range(8, 20))  # hourly starts 08:00 to 19:00 UTC; a 35-minute session ends by 19:35
SESSION = timedelta(minutes=35)  # the protocol's 5 minutes of output (300 s) + 30 minutes of preparation
SEEDED_DAYS = 730  # existing appointments fill days 1..730 from today
SEEDED_OFFSETS = (0, 3, 7, 10)  # each seeded client: one series of 4 sessions, 2 a week (Mon/Thu pattern)
LATE_FIRST_DAY = 760  # the "after the calendar" bookings start here, past every seeded appointment

# The measured plan: 12 sessions, 2 a week, at day offsets 0, 3, 7, 10, ..., 35, 38 from the first.
PLAN = {"intensive": {"sessions": 12, "per_week": 2}}
PLAN_OFFSETS = tuple((i // 2) * 7 + (0, 3)[i % 2] for i in range(12))
# A lane is one room and hour on one plan's days. Lanes starting 0, 1 and 2 days apart use disjoint days
# (offsets are 0 and 3 modulo 7), and one plan spans 39 days, so blocks of 42 days never share a day.
LANE_BLOCK_DAYS = 42
LANE_SHIFTS = 3
LANES_PER_BLOCK = ROOMS * len(HOURS) * LANE_SHIFTS
# The "busy calendar" lanes: eight windows of the seeded years, kept free of seeded appointments. Lane j is in
# window j % 8, at position ((j // 8) * 7 + j % 8) % LANES_PER_BLOCK of it (7 is prime to LANES_PER_BLOCK),
# so neighbours differ in room and the hours vary.
BUSY_WINDOWS = tuple(14 + 88 * n for n in range(8))  # first days; each window lasts 42 days, the last ends by 672
BUSY_STRIDE = 7

STEP = {
    "zone": "cheeks",
    "mode": "LIFT",
    "current_ua": 200,
    "frequency_hz": 30,
    "waveform": "square",
    "polarity": "alternating",
    "duration_s": 300,
}


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appointments", type=int, default=50_000, help="booked appointments to load")
    parser.add_argument("--bookings", type=int, default=300, help="measured series bookings per level")
    parser.add_argument(
        "--conflicts",
        type=int,
        default=100,
        help="measured conflicting bookings per level (default 100: each takes ~0.3 s or more)",
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="unmeasured requests (or raw writes) before each measurement"
    )
    parser.add_argument(
        "--concurrency",
        type=int_list,
        default=[1, 4],
        help="comma-separated client thread counts, one connection each (default 1,4)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes per server")
    parser.add_argument("--bare-seconds", type=float, default=5.0, help="measured seconds of the bare ceiling")
    args = parser.parse_args()
    if min(args.appointments, args.bookings, args.conflicts) < 1 or args.warmup < 0:
        parser.error("give at least 1 appointment, booking and conflict, and a warm-up of 0 or more")
    return args


# --- the clinic -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lane:
    """Where and when one 12-session series goes: a room, an hour of the day, the first day (from today)."""

    room: int
    hour: int
    day: int


def lane_in_block(within: int, first_day: int) -> Lane:
    """The lane at position `within` of a 42-day block starting on `first_day`; neighbours differ in room."""
    shift, rest = divmod(within, ROOMS * len(HOURS))
    hour_index, room = divmod(rest, ROOMS)
    return Lane(room=room, hour=HOURS[hour_index], day=first_day + shift)


def late_lane(index: int) -> Lane:
    """The index-th lane of the third year, past every seeded appointment."""
    block, within = divmod(index, LANES_PER_BLOCK)
    return lane_in_block(within, LATE_FIRST_DAY + block * LANE_BLOCK_DAYS)


def busy_lane(index: int) -> Lane:
    """The index-th lane amid the seeded appointments (kept free when seeding)."""
    position, window = divmod(index, len(BUSY_WINDOWS))
    if position >= LANES_PER_BLOCK:
        raise ValueError(f"only {LANES_PER_BLOCK * len(BUSY_WINDOWS)} busy-calendar lanes")
    return lane_in_block((position * BUSY_STRIDE + window) % LANES_PER_BLOCK, BUSY_WINDOWS[window])


class LaneSupply:
    """Hands out lanes, each with a client that has no appointment, in order and each once."""

    def __init__(self, lanes: list[Lane]) -> None:
        self.lanes = lanes
        self.clients = [uuid.uuid4() for _ in lanes]
        self.next = 0

    def take(self, count: int) -> list[tuple[Lane, uuid.UUID]]:
        if self.next + count > len(self.lanes):
            raise RuntimeError("out of lanes: the count of lanes needed was computed wrong")
        taken = list(
            zip(self.lanes[self.next : self.next + count], self.clients[self.next : self.next + count], strict=True)
        )
        self.next += count
        return taken


@dataclass
class LoadIds:
    """The ids the load needs: staff, rooms and devices by index, the protocol, and unbooked clients."""

    today: date
    protocol_id: uuid.UUID
    creator_id: uuid.UUID
    rooms: list[uuid.UUID]
    devices: list[uuid.UUID]
    estheticians: list[uuid.UUID]
    busy: LaneSupply  # amid the seeded appointments
    late: LaneSupply  # after them
    conflict_lane: Lane  # amid them too; its 12th session is taken
    conflict_clients: list[uuid.UUID]  # one per load thread
    seeded: int = 0

    def esthetician(self, room: int, hour: int) -> uuid.UUID:
        return self.estheticians[room * ESTHETICIANS_PER_ROOM + hour % ESTHETICIANS_PER_ROOM]

    def at(self, day: int, hour: int) -> datetime:
        return datetime.combine(self.today + timedelta(days=day), clock(hour), tzinfo=UTC)


def client_rows(ids: list[uuid.UUID], tag: str, rng: random.Random) -> list[dict[str, Any]]:
    """Clients with the given ids, unique emails and plausible names and birth dates."""
    rows = []
    for i, client_id in enumerate(ids):
        first, last = rng.choice(base.FIRST_NAMES), rng.choice(base.LAST_NAMES)
        email = f"{first}.{last}.{tag}{i}@example.com".lower()
        phone = f"+1 555 {rng.randrange(10_000_000):07d}"
        rows.append(
            {
                "id": client_id,
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": phone,
                "date_of_birth": date(1950, 1, 1) + timedelta(days=rng.randrange(20_000)),
                "search_text": client_search_text(first_name=first, last_name=last, email=email, phone=phone),
            }
        )
    return rows


def appointment_row(
    clinic: LoadIds, *, series_id: uuid.UUID, sequence: int, client_id: uuid.UUID, room: int, hour: int, day: int
) -> dict[str, Any]:
    """One booked appointment row, as the service would write it for a client without a screening."""
    start = clinic.at(day, hour)
    return {
        "id": uuid.uuid4(),
        "series_id": series_id,
        "sequence": sequence,
        "client_id": client_id,
        "protocol_id": clinic.protocol_id,
        "esthetician_id": clinic.esthetician(room, hour),
        "room_id": clinic.rooms[room],
        "device_id": clinic.devices[room],
        "start_at": start,
        "end_at": start + SESSION,
        "occupied_until": start + SESSION,
        "status": AppointmentStatus.BOOKED,
        "awaiting_screening": True,
    }


def series_row(
    clinic: LoadIds, *, series_id: uuid.UUID, client_id: uuid.UUID, room: int, hour: int, sessions: int
) -> dict[str, Any]:
    return {
        "id": series_id,
        "client_id": client_id,
        "protocol_id": clinic.protocol_id,
        "esthetician_id": clinic.esthetician(room, hour),
        "room_id": clinic.rooms[room],
        "plan": {"intensive": {"sessions": sessions, "per_week": 2}},
        "created_by_id": clinic.creator_id,
    }


def staff_and_resources(conn: Connection, clinic: LoadIds) -> None:
    """Rooms, their devices, the estheticians, a medical director and the approved protocol."""
    director = clinic.creator_id
    conn.execute(
        insert(User),
        [
            {
                "id": director,
                "email": "bench.director@example.com",
                "full_name": "Bench Director",
                "role": Role.MEDICAL_DIRECTOR,
                "password_hash": "not-a-hash",
            }
        ],
    )
    conn.execute(
        insert(User),
        [
            {
                "id": user_id,
                "email": f"bench.esthetician{i}@example.com",
                "full_name": f"Esthetician {i}",
                "role": Role.ESTHETICIAN,
                "password_hash": "not-a-hash",
            }
            for i, user_id in enumerate(clinic.estheticians)
        ],
    )
    conn.execute(insert(Room), [{"id": room_id, "name": f"Room {i + 1}"} for i, room_id in enumerate(clinic.rooms)])
    conn.execute(
        insert(Device),
        [
            {
                "id": device_id,
                "device_id": f"gd-bench{i}",
                "serial": f"SN-BENCH-{i}",
                "room_id": clinic.rooms[i],
                "probe_area_cm2": 0.5,
                "mqtt_password_hash": "not-a-hash",
                "status": DeviceStatus.IN_SERVICE,
            }
            for i, device_id in enumerate(clinic.devices)
        ],
    )
    conn.execute(
        insert(Protocol),
        [
            {
                "id": clinic.protocol_id,
                "lineage_id": uuid.uuid4(),
                "version": 1,
                "name": "Lift and tone",
                "target": {"areas": ["cheeks"], "goal": "lift"},
                "steps": [STEP],
                "total_output_s": 300,
                "max_current_ua": 200,
                "status": ProtocolStatus.APPROVED,
                "sha256": secrets.token_hex(32),
                "created_by_id": director,
                "approved_at": datetime.now(UTC),
                "approved_by_id": director,
            }
        ],
    )


def seeded_series(clinic: LoadIds, count: int, rng: random.Random) -> tuple[list[dict[str, Any]], ...]:
    """Clients, series and `count` appointments at random room-hours of the seeded days, off the busy lanes."""
    taken = {
        (where.room, where.hour, where.day + offset)
        for where in [*clinic.busy.lanes, clinic.conflict_lane]
        for offset in PLAN_OFFSETS
    }
    if count > 0.6 * (ROOMS * len(HOURS) * SEEDED_DAYS - len(taken)):
        raise ValueError(f"{count} appointments do not fit {SEEDED_DAYS} days of {ROOMS} rooms loosely enough")
    clients: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    appointments: list[dict[str, Any]] = []
    while len(appointments) < count:
        room, hour = rng.randrange(ROOMS), rng.choice(HOURS)
        first = rng.randrange(1, SEEDED_DAYS - SEEDED_OFFSETS[-1] + 1)
        days = [first + offset for offset in SEEDED_OFFSETS][: count - len(appointments)]
        if any((room, hour, day) in taken for day in days):
            continue
        taken.update((room, hour, day) for day in days)
        client_id, series_id = uuid.uuid4(), uuid.uuid4()
        clients.append({"id": client_id})
        series.append(
            series_row(clinic, series_id=series_id, client_id=client_id, room=room, hour=hour, sessions=len(days))
        )
        appointments += [
            appointment_row(clinic, series_id=series_id, sequence=n, client_id=client_id, room=room, hour=hour, day=day)
            for n, day in enumerate(days, start=1)
        ]
    return clients, series, appointments


def blocker_day(clinic: LoadIds) -> int:
    """The day of the appointment the conflicting series collides with: that series' 12th session."""
    return clinic.conflict_lane.day + PLAN_OFFSETS[-1]


def load_clinic(engine: Engine, args: argparse.Namespace) -> LoadIds:
    """Everything but the desk user, in one transaction; returns the ids the load needs."""
    rng = random.Random(SEED)
    busy, late = lanes_needed(args)
    clinic = LoadIds(
        today=datetime.now(UTC).date(),
        protocol_id=uuid.uuid4(),
        creator_id=uuid.uuid4(),
        rooms=[uuid.uuid4() for _ in range(ROOMS)],
        devices=[uuid.uuid4() for _ in range(ROOMS)],
        estheticians=[uuid.uuid4() for _ in range(ROOMS * ESTHETICIANS_PER_ROOM)],
        busy=LaneSupply([busy_lane(i) for i in range(busy)]),
        late=LaneSupply([late_lane(i) for i in range(late)]),
        conflict_lane=busy_lane(busy),
        conflict_clients=[uuid.uuid4() for _ in range(max(args.concurrency))],
    )
    seeded_clients, series, appointments = seeded_series(clinic, args.appointments, rng)
    # The appointment the conflicting series runs into: the 12th session of the busy lane after the others.
    blocker = clinic.conflict_lane
    blocker_client, blocker_series = uuid.uuid4(), uuid.uuid4()
    series.append(
        series_row(
            clinic, series_id=blocker_series, client_id=blocker_client, room=blocker.room, hour=blocker.hour, sessions=1
        )
    )
    appointments.append(
        appointment_row(
            clinic,
            series_id=blocker_series,
            sequence=1,
            client_id=blocker_client,
            room=blocker.room,
            hour=blocker.hour,
            day=blocker_day(clinic),
        )
    )
    client_ids = [c["id"] for c in seeded_clients] + [blocker_client]
    clients = (
        client_rows(client_ids, "s", rng)
        + client_rows(clinic.busy.clients, "b", rng)
        + client_rows(clinic.late.clients, "l", rng)
        + client_rows(clinic.conflict_clients, "c", rng)
    )
    with engine.begin() as conn:
        staff_and_resources(conn, clinic)
        for rows, table in ((clients, Client), (series, Series), (appointments, Appointment)):
            for start in range(0, len(rows), BATCH_SIZE):
                conn.execute(insert(table), rows[start : start + BATCH_SIZE])
    clinic.seeded = len(appointments)
    return clinic


def prepare_database(args: argparse.Namespace, password: str) -> tuple[Engine, LoadIds]:
    """A fresh galvani_bench_booking holding the clinic and the desk user."""
    recreate_database(DATABASE)
    upgrade(BENCH_URL)
    engine = create_engine(BENCH_URL, pool_size=max(args.concurrency) + 1)
    started = time.perf_counter()
    clinic = load_clinic(engine, args)
    loaded = time.perf_counter() - started
    vacuum_analyze(engine)
    base.create_desk_user(engine, password)
    with engine.connect() as conn:
        booked = conn.scalar(select(func.count()).select_from(Appointment))
        span = conn.execute(
            select(func.min(Appointment.start_at), func.max(Appointment.start_at)).where(
                Appointment.start_at < clinic.at(SEEDED_DAYS + 1, 0)
            )
        ).one()
    print(
        f"loaded {booked} booked appointments in {loaded:.1f}s, from {span[0]:%Y-%m-%d} to"
        f" {span[1]:%Y-%m-%d} (1 of them for the conflict); {ROOMS} rooms, {len(clinic.estheticians)}"
        f" estheticians; {len(clinic.busy.lanes)} series kept free amid them, {len(clinic.late.lanes)} from"
        f" {clinic.at(LATE_FIRST_DAY, 0):%Y-%m-%d}, each with a client not yet booked",
        flush=True,
    )
    return engine, clinic


# --- load -----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one load thread saw: a latency per request (ms, failures included), statuses, the first error."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    first_error: str | None = None


@dataclass(frozen=True)
class Figures:
    """One shape's figures at one concurrency level."""

    name: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    first_error: str | None = None
    app_cpu_ms: float = math.nan  # CPU of the server's processes per request (nan: no server, as for the raw write)
    db_cpu_ms: float = math.nan  # CPU of PostgreSQL's backends of the bench database per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_threads(
    name: str,
    work: list[Any],
    concurrency: int,
    expected: int,
    worker: Callable[[list[Any], Tally], None],
    meter: base.CpuMeter | None = None,
) -> Figures:
    """Split `work` across `concurrency` threads (thread k takes items k, k+c, ...), run them, merge; with the CPU
    per request that `meter` saw used meanwhile."""
    tallies = [Tally() for _ in range(concurrency)]
    threads = [threading.Thread(target=worker, args=(work[k::concurrency], tally)) for k, tally in enumerate(tallies)]
    cpu_before = meter.sample() if meter else {}
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies = sorted(ms for tally in tallies for ms in tally.latencies_ms)
    app_cpu_ms, db_cpu_ms = meter.per_request(cpu_before, len(latencies)) if meter else (math.nan, math.nan)
    statuses: Counter[int] = Counter()
    for tally in tallies:
        statuses.update(tally.statuses)
    first_error = next((tally.first_error for tally in tallies if tally.first_error), None)
    figures = Figures(
        name=name,
        concurrency=concurrency,
        requests=len(latencies),
        errors=sum(n for status, n in statuses.items() if status != expected),
        seconds=seconds,
        p50_ms=base.percentile(latencies, 0.50),
        p99_ms=base.percentile(latencies, 0.99),
        statuses=dict(statuses),
        first_error=first_error,
        app_cpu_ms=app_cpu_ms,
        db_cpu_ms=db_cpu_ms,
    )
    print(
        f"  c={concurrency:<3} {name:<38} {figures.rate:8.1f} /s  p50 {figures.p50_ms:7.2f} ms  "
        f"p99 {figures.p99_ms:7.2f} ms  CPU/request app {figures.app_cpu_ms:.2f} ms, "
        f"PostgreSQL {figures.db_cpu_ms:.2f} ms  errors {figures.errors}  statuses {figures.statuses}",
        flush=True,
    )
    if first_error:
        print(f"        first error: {first_error}", flush=True)
    return figures


def post_worker(port: int, token: str, expected: int) -> Callable[[list[str], Tally], None]:
    """A thread body that POSTs each JSON body to /api/v1/series on one keep-alive connection."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def work(bodies: list[str], tally: Tally) -> None:
        conn = http.client.HTTPConnection(base.LOOPBACK, port, timeout=base.REQUEST_TIMEOUT_S)
        try:
            for body in bodies:
                started = time.perf_counter()
                status, payload = timed_post(conn, "/api/v1/series", body, headers)
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
                tally.statuses[status] += 1
                if status != expected and tally.first_error is None:
                    tally.first_error = f"{status} {payload[:500].decode(errors='replace')}"
        finally:
            conn.close()

    return work


def timed_post(conn: http.client.HTTPConnection, path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST and read the body; status 0 when the connection failed (it reconnects next time)."""
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return 0, repr(exc).encode()


def booking_body(clinic: LoadIds, where: Lane, client_id: uuid.UUID) -> str:
    """The JSON of a 12-session series for `client_id` on the lane's room, hour and days."""
    return json.dumps(
        {
            "client_id": str(client_id),
            "protocol_id": str(clinic.protocol_id),
            "esthetician_id": str(clinic.esthetician(where.room, where.hour)),
            "room_id": str(clinic.rooms[where.room]),
            "start_at": clinic.at(where.day, where.hour).isoformat(),
            "plan": PLAN,
        }
    )


def lanes_needed(args: argparse.Namespace) -> tuple[int, int]:
    """Busy-calendar lanes (a check booking, then per level the bookings with their warm-up), and third-year
    lanes (per level the bookings and the raw writes, each with their warm-up)."""
    per_level = args.warmup + args.bookings
    return 1 + len(args.concurrency) * per_level, len(args.concurrency) * 2 * per_level


def check_booking(port: int, token: str, clinic: LoadIds) -> None:
    """A busy-calendar booking must answer 201 with 12 appointments; the conflicting one 409 with its 12th only."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    [(where, client_id)] = clinic.busy.take(1)
    status, body = base.request_once(port, "POST", "/api/v1/series", booking_body(clinic, where, client_id), headers)
    if status != 201:
        raise RuntimeError(f"the check booking answered {status}: {body[:500]!r}")
    starts = [datetime.fromisoformat(a["start_at"]) for a in json.loads(body)["appointments"]]
    if starts != [clinic.at(where.day + offset, where.hour) for offset in PLAN_OFFSETS]:
        raise RuntimeError(f"the check booking has other times than planned: {starts}")
    conflict = clinic.conflict_lane
    status, body = base.request_once(
        port, "POST", "/api/v1/series", booking_body(clinic, conflict, clinic.conflict_clients[0]), headers
    )
    found = json.loads(body) if status == 409 else {}
    reasons = [(c["sequence"], r["code"]) for c in found.get("conflicts", []) for r in c["reasons"]]
    if reasons != [(12, "room_busy"), (12, "device_busy"), (12, "esthetician_busy")]:
        raise RuntimeError(f"the conflicting booking answered {status}: {body[:500]!r}")
    print(f"check: 201 with 12 sessions; conflict 409 '{found['detail']}' {reasons}", flush=True)


def measure_bookings(
    name: str,
    port: int,
    token: str,
    clinic: LoadIds,
    supply: LaneSupply,
    level: int,
    args: argparse.Namespace,
    meter: base.CpuMeter,
) -> Figures:
    """Warm-up bookings (discarded), then `args.bookings` measured ones, each on its own lane."""

    def bodies(count: int) -> list[str]:
        return [booking_body(clinic, where, client_id) for where, client_id in supply.take(count)]

    if args.warmup:
        run_threads("(warm-up)", bodies(args.warmup), level, 201, post_worker(port, token, 201))
    return run_threads(name, bodies(args.bookings), level, 201, post_worker(port, token, 201), meter)


def measure_conflicts(
    port: int, token: str, clinic: LoadIds, level: int, args: argparse.Namespace, meter: base.CpuMeter
) -> Figures:
    """The conflicting series, again and again; each thread has its own client, so no thread waits on a lock."""

    def bodies(count: int) -> list[str]:
        return [booking_body(clinic, clinic.conflict_lane, clinic.conflict_clients[i % level]) for i in range(count)]

    if args.warmup:
        run_threads("(warm-up)", bodies(args.warmup), level, 409, post_worker(port, token, 409))
    return run_threads(
        "busy calendar, 12th conflicts (409)",
        bodies(args.conflicts),
        level,
        409,
        post_worker(port, token, 409),
        meter,
    )


def run_real(args: argparse.Namespace, tmp: Path, password: str, clinic: LoadIds) -> dict[int, list[Figures]]:
    """Start the real app, log in, check both shapes, measure them at each level, stop it."""
    port = base.free_port()
    log_path = tmp / "real.log"
    env = base.app_env(str(tmp / "data")) | {"GALVANI_DATABASE_URL": BENCH_URL}
    process = base.start_uvicorn(["--factory", "api.app:create_app"], port, args.workers, env, log_path)
    try:
        base.wait_until_ready(process, port, "/health", log_path)
        token = base.log_in(port, password)
        check_booking(port, token, clinic)
        print(f"real app on port {port}, {args.workers} worker(s):", flush=True)
        meter = base.CpuMeter(server_pgid=process.pid, database=DATABASE)
        return {
            level: [
                measure_bookings(BUSY_SHAPE, port, token, clinic, clinic.busy, level, args, meter),
                measure_bookings(LATE_SHAPE, port, token, clinic, clinic.late, level, args, meter),
                measure_conflicts(port, token, clinic, level, args, meter),
            ]
            for level in args.concurrency
        }
    finally:
        base.stop_uvicorn(process)


# --- ceilings -------------------------------------------------------------------------------------------


def raw_write(clinic: LoadIds, where: Lane, client_id: uuid.UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The rows a booking of this lane writes: its series and its 12 appointments."""
    series_id = uuid.uuid4()
    series = series_row(clinic, series_id=series_id, client_id=client_id, room=where.room, hour=where.hour, sessions=12)
    rows = [
        appointment_row(
            clinic,
            series_id=series_id,
            sequence=n,
            client_id=client_id,
            room=where.room,
            hour=where.hour,
            day=where.day + offset,
        )
        for n, offset in enumerate(PLAN_OFFSETS, start=1)
    ]
    return series, rows


def raw_worker(engine: Engine) -> Callable[[list[tuple[dict[str, Any], list[dict[str, Any]]]], Tally], None]:
    """A thread body that writes each series and its appointments in one transaction (SQLAlchemy Core)."""

    def work(writes: list[tuple[dict[str, Any], list[dict[str, Any]]]], tally: Tally) -> None:
        for series, rows in writes:
            started = time.perf_counter()
            status = 201
            try:
                with engine.begin() as conn:
                    conn.execute(insert(Series), [series])
                    conn.execute(insert(Appointment), rows)
            except Exception as exc:  # counted as an error, shown once
                status = 500
                if tally.first_error is None:
                    tally.first_error = repr(exc)[:500]
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            tally.statuses[status] += 1

    return work


def measure_raw(engine: Engine, clinic: LoadIds, level: int, args: argparse.Namespace) -> Figures:
    """The same write without the app (third-year lanes), on `level` connections at once."""

    def writes(count: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        return [raw_write(clinic, where, client_id) for where, client_id in clinic.late.take(count)]

    if args.warmup:
        run_threads("(warm-up)", writes(args.warmup), level, 201, raw_worker(engine))
    meter = base.CpuMeter(server_pgid=-1, database=DATABASE)  # PostgreSQL's side only: the writes run in this process
    figures = run_threads("raw DB write (ceiling)", writes(args.bookings), level, 201, raw_worker(engine), meter)
    return replace(figures, app_cpu_ms=math.nan)


def run_bare(args: argparse.Namespace, tmp: Path) -> dict[int, Figures]:
    """The bare FastAPI app, timed like clients_search does (1 s warm-up, then `--bare-seconds`)."""
    timed = argparse.Namespace(
        workers=args.workers, warmup=1.0, seconds=args.bare_seconds, max_requests=200_000, concurrency=args.concurrency
    )
    results = base.run_bare(timed, tmp)
    return {
        level: Figures(
            name=r.scenario.name,
            concurrency=level,
            requests=r.requests,
            errors=r.errors,
            seconds=r.seconds,
            p50_ms=r.p50_ms,
            p99_ms=r.p99_ms,
            statuses=r.statuses,
            app_cpu_ms=r.app_cpu_ms,
        )
        for level, r in results.items()
    }


# --- report ---------------------------------------------------------------------------------------------


AIM_P99_MS = 100.0
BUSY_SHAPE = "busy calendar: book series (201)"
LATE_SHAPE = "after the calendar: book series (201)"


def print_table(level: int, api: list[Figures], raw: Figures, bare: Figures, workers: int) -> None:
    """One concurrency level as a Markdown table, with ratios to the raw write and to the bare app."""
    print(f"\nconcurrency {level}, {workers} worker(s):")
    print(
        "\n| shape | requests | errors | per s | p50 ms | p99 ms | p50 / raw write | p99 / raw write "
        "| per s / bare | p99 / bare | app CPU ms/req | PostgreSQL CPU ms/req |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for f in [*api, raw, bare]:
        print(
            f"| {f.name} | {f.requests} | {f.errors} | {f.rate:.0f} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | "
            f"{f.p50_ms / raw.p50_ms:.1f} | {f.p99_ms / raw.p99_ms:.1f} | {f.rate / bare.rate:.3f} | "
            f"{f.p99_ms / bare.p99_ms:.0f} | {_cpu(f.app_cpu_ms)} | {_cpu(f.db_cpu_ms)} |"
        )


def _cpu(ms: float) -> str:
    return "-" if math.isnan(ms) else f"{ms:.2f}"


def print_verdict(real: dict[int, list[Figures]]) -> None:
    """The issue's aim, per level and booking shape: p99 of a 12-session booking under 100 ms, with no errors."""
    print(f"\naim: p99 of a 12-session series booking under {AIM_P99_MS:.0f} ms")
    for level, figures in real.items():
        for f in figures:
            met = f.p99_ms < AIM_P99_MS and f.errors == 0
            print(
                f"  concurrency {level}, {f.name}: {'met' if met else 'NOT met'} "
                f"(p99 {f.p99_ms:.1f} ms, {f.errors} errors)"
            )


def check_counts(engine: Engine, clinic: LoadIds) -> None:
    """The appointments in the database: the seeded ones plus 12 for every lane used, if all were written."""
    used = clinic.busy.next + clinic.late.next
    expected = clinic.seeded + len(PLAN_OFFSETS) * used
    with engine.connect() as conn:
        found = conn.scalar(select(func.count()).select_from(Appointment))
    verdict = "as expected" if found == expected else f"EXPECTED {expected}: some writes failed"
    print(
        f"\nappointments now: {found} ({clinic.seeded} loaded + 12 x {used} series booked through the API or"
        f" written raw, warm-ups included): {verdict}"
    )


# --- main -----------------------------------------------------------------------------------------------


def main() -> None:
    """Load, measure, report."""
    args = parse_args()
    password = secrets.token_urlsafe(24)
    engine, clinic = prepare_database(args, password)
    try:
        base.print_machine(engine)
        with tempfile.TemporaryDirectory(prefix="galvani-bench-") as tmp:
            real = run_real(args, Path(tmp), password, clinic)
            print("raw SQLAlchemy Core write, no app:", flush=True)
            raw = {level: measure_raw(engine, clinic, level, args) for level in args.concurrency}
            bare = run_bare(args, Path(tmp))
        for level in args.concurrency:
            print_table(level, real[level], raw[level], bare[level], args.workers)
        print_verdict(real)
        check_counts(engine, clinic)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
