"""Client search benchmark (issue 2): GET /api/v1/clients over N clients, against a bare-app ceiling.

Recreates the `galvani_bench` PostgreSQL database, loads N clients, starts the real app and a bare
FastAPI app under uvicorn, drives both with a threaded keep-alive HTTP client on loopback at each
concurrency level, and prints per level a table of requests/s, p50 and p99 per query shape with the
real/bare ratios at that level, and the CPU each request cost the server's processes and PostgreSQL's
backends of galvani_bench (read from /proc: on a machine shared with other work the latencies move with
the load, the CPU a request costs much less). The galvani_bench database is left in place afterwards,
to look at with psql.

    .venv/bin/python bench/clients_search.py                      # 100,000 clients, concurrency 1,4,8
    .venv/bin/python bench/clients_search.py --workers 2 --concurrency 8
"""

import argparse
import http.client
import json
import math
import os
import platform
import random
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from common import LOOPBACK, bench_url, free_port, int_list, postgres_version, recreate_database, vacuum_analyze
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.orm import Session

from api.services.clients import search_terms
from api.services.users import add as add_user
from db.migrate import upgrade
from db.models import Client, Role
from db.models.client import client_search_text

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
BENCH_DB = "galvani_bench"
BENCH_URL = bench_url(BENCH_DB)
BATCH_SIZE = 5000
PAGE_LIMIT = 50
READY_TIMEOUT_S = 120.0  # four workers starting on a busy 2-core machine can take well over 30 s
REQUEST_TIMEOUT_S = 30.0
USER_EMAIL = "bench.desk@example.com"
SEED = 2

# Roughly in order of frequency; the loader weights earlier names more (1/sqrt(rank)).
FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Dorothy",
    "Jason",
    "Rebecca",
    "Edward",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Brenda",
    "Stephen",
    "Emma",
    "Larry",
    "Anna",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Samantha",
    "Benjamin",
    "Katherine",
    "Samuel",
    "Christine",
    "Gregory",
    "Helen",
    "Alexander",
    "Debra",
    "Patrick",
    "Rachel",
    "Frank",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Maria",
    "Dennis",
    "Catherine",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Olivia",
    "Jose",
    "Julie",
    "Adam",
    "Joyce",
    "Nathan",
    "Victoria",
    "Henry",
    "Ruth",
    "Zachary",
    "Virginia",
    "Douglas",
    "Lauren",
    "Peter",
    "Kelly",
    "Kyle",
    "Christina",
    "Noah",
    "Joan",
    "Ethan",
    "Evelyn",
    "Jeremy",
    "Judith",
    "Walter",
    "Andrea",
    "Christian",
    "Hannah",
    "Keith",
    "Megan",
    "Roger",
    "Cheryl",
    "Terry",
    "Jacqueline",
    "Austin",
    "Martha",
    "Sean",
    "Madison",
    "Gerald",
    "Teresa",
    "Carl",
    "Gloria",
    "Harold",
    "Sara",
    "Dylan",
    "Janice",
    "Arthur",
    "Ann",
    "Lawrence",
    "Kathryn",
    "Jordan",
    "Abigail",
    "Jesse",
    "Sophia",
    "Bryan",
    "Frances",
    "Billy",
    "Jean",
    "Bruce",
    "Alice",
    "Gabriel",
    "Judy",
    "Joe",
    "Isabella",
    "Logan",
    "Julia",
    "Alan",
    "Grace",
    "Juan",
    "Amber",
    "Albert",
    "Denise",
    "Willie",
    "Danielle",
    "Elijah",
    "Marilyn",
    "Wayne",
    "Beverly",
    "Randy",
    "Charlotte",
    "Vincent",
    "Natalie",
    "Mason",
    "Theresa",
    "Roy",
    "Diana",
    "Ralph",
    "Brittany",
    "Bobby",
    "Doris",
    "Russell",
    "Kayla",
    "Bradley",
    "Alexis",
    "Philip",
    "Lori",
    "Eugene",
    "Marie",
    "Amelia",
    "Leila",
    "Ines",
    "Aiko",
    "Mateo",
    "Priya",
    "Omar",
    "Fatima",
    "Hiroshi",
    "Mei",
    "Arjun",
    "Chiara",
    "Lucas",
    "Ingrid",
    "Nikos",
    "Sofia",
    "Tariq",
    "Yara",
    "Kwame",
    "Ngozi",
    "Lars",
    "Astrid",
    "Diego",
]

LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Gonzales",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tran",
    "Medina",
    "Aguilar",
    "Stevens",
    "Murray",
    "Ford",
    "Castro",
    "Marshall",
    "Owens",
    "Harrison",
    "Fernandez",
    "McDonald",
    "Woods",
    "Washington",
    "Kennedy",
    "Wells",
    "Vargas",
    "Henry",
    "Chen",
    "Freeman",
    "Webb",
    "Tucker",
    "Guzman",
    "Burns",
    "Crawford",
    "Olson",
    "Simpson",
    "Porter",
    "Hunter",
    "Gordon",
    "Mendez",
    "Silva",
    "Shaw",
    "Snyder",
    "Mason",
    "Dixon",
    "Munoz",
    "Hunt",
    "Hicks",
    "Holmes",
    "Palmer",
    "Wagner",
    "Black",
    "Robertson",
    "Boyd",
    "Rose",
    "Stone",
    "Salazar",
    "Fox",
    "Warren",
    "Mills",
    "Meyer",
    "Rice",
    "Schmidt",
    "Garza",
    "Daniels",
    "Ferguson",
    "Nichols",
    "Stephens",
    "Soto",
    "Weaver",
    "Ryan",
    "Gardner",
    "Payne",
    "Grant",
    "Dunn",
    "Kelley",
    "Spencer",
    "Hawkins",
    "Arnold",
    "Pierce",
    "Vazquez",
    "Hansen",
    "Peters",
    "Santos",
    "Hart",
    "Bradley",
    "Knight",
    "Elliott",
    "Cunningham",
    "Duncan",
    "Armstrong",
    "Hudson",
    "Carroll",
    "Lane",
    "Riley",
    "Andrews",
    "Alvarado",
    "Ray",
    "Delgado",
    "Berry",
    "Perkins",
    "Hoffman",
    "Johnston",
    "Matthews",
    "Pena",
    "Richards",
    "Contreras",
    "Willis",
    "Carpenter",
    "Lawrence",
    "Sandoval",
    "Guerrero",
    "George",
    "Chapman",
    "Rios",
    "Estrada",
    "Ortega",
    "Watkins",
    "Greene",
    "Nunez",
    "Wheeler",
    "Valdez",
    "Harper",
    "Burke",
    "Larson",
    "Santiago",
    "Maldonado",
    "Morrison",
    "Franklin",
    "Carlson",
    "Austin",
    "Dominguez",
    "Carr",
    "Lawson",
    "Jacobs",
    "Obrien",
    "Lynch",
    "Singh",
    "Vega",
    "Bishop",
    "Montgomery",
    "Oliver",
    "Jensen",
    "Harvey",
    "Williamson",
    "Gilbert",
    "Dean",
    "Sims",
    "Espinoza",
    "Howell",
    "Li",
    "Wong",
    "Reid",
    "Hanson",
    "Le",
    "McCoy",
    "Garrett",
    "Burton",
    "Fuller",
    "Wang",
    "Weber",
    "Welch",
    "Rojas",
    "Lucas",
    "Marquez",
    "Fields",
    "Park",
    "Yang",
    "Little",
    "Banks",
    "Padilla",
    "Day",
    "Walsh",
    "Bowman",
    "Schultz",
    "Luna",
    "Fowler",
    "Mejia",
    "Davidson",
    "Acosta",
    "Brewer",
    "May",
    "Holland",
    "Juarez",
    "Newman",
    "Pearson",
    "Curtis",
    "Cortez",
    "Douglas",
    "Schneider",
    "Joseph",
    "Barrett",
    "Navarro",
    "Figueroa",
    "Keller",
    "Avila",
    "Wade",
    "Molina",
    "Stanley",
    "Hopkins",
    "Campos",
    "Barnett",
    "Bates",
    "Chambers",
    "Caldwell",
    "Beck",
    "Lambert",
    "Miranda",
    "Byrd",
    "Craig",
    "Ayala",
    "Lowe",
    "Frazier",
    "Powers",
    "Neal",
    "Leonard",
    "Gregory",
    "Carrillo",
    "Sutton",
    "Fleming",
    "Rhodes",
    "Shelton",
    "Schwartz",
    "Norris",
    "Jennings",
    "Watts",
    "Duran",
    "Walters",
    "Cohen",
    "McDaniel",
    "Moran",
    "Parks",
    "Steele",
    "Vaughn",
    "Becker",
    "Holt",
    "Deleon",
    "Barker",
    "Terry",
    "Hale",
    "Leon",
    "Fuentes",
    "Benson",
    "Haynes",
    "Horton",
    "Miles",
    "Lyons",
    "Pham",
    "Graves",
    "Bush",
    "Thornton",
    "Wolfe",
    "Warner",
    "Cabrera",
]


@dataclass(frozen=True)
class Scenario:
    """One load: a name for the table, the path requested, and the search text (None: no `q`)."""

    name: str
    path: str
    q: str | None = None


def real_scenario(name: str, q: str | None) -> Scenario:
    """A scenario against GET /api/v1/clients, with `q` when given."""
    query = {"limit": str(PAGE_LIMIT)}
    if q is not None:
        query["q"] = q
    return Scenario(name=name, path="/api/v1/clients?" + urllib.parse.urlencode(query), q=q)


SCENARIOS = [
    real_scenario("first page (no q)", None),
    real_scenario("two letters 'ga'", "ga"),  # search as you type: too short for the trigram index
    real_scenario("last-name prefix 'gar'", "gar"),
    real_scenario("full last name 'hernandez'", "hernandez"),
    real_scenario("full last name 'young'", "young"),
    real_scenario("partial email 'olivia.br'", "olivia.br"),
    real_scenario("phone digits '4827'", "4827"),
    real_scenario("no match 'zzqx'", "zzqx"),
    real_scenario("nearly everyone 'com'", "com"),
]
BARE = Scenario(name="bare FastAPI (ceiling)", path="/bare")


@dataclass
class Tally:
    """What one load thread saw: a latency per request (ms, failures included) and the status of each."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class Result:
    """A scenario's figures at one concurrency level."""

    scenario: Scenario
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    app_cpu_ms: float = math.nan  # CPU of the server's processes per request
    db_cpu_ms: float = math.nan  # CPU of PostgreSQL's backends of the bench database per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class CpuMeter:
    """CPU seconds used by one server (its process group: uvicorn and its workers) and by the PostgreSQL backends
    connected to one database, read from /proc. On a machine shared with other work the latencies move with the
    load; the CPU a request costs moves much less."""

    server_pgid: int
    database: str | None = None

    def sample(self) -> dict[int, tuple[bool, float]]:
        """Each counted process: whether it is the server's (else a backend), and its CPU seconds so far."""
        found: dict[int, tuple[bool, float]] = {}
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
                if int(fields[2]) == self.server_pgid:  # pgrp
                    found[int(entry.name)] = (True, used)
                elif self.database and f" {self.database} " in (entry / "cmdline").read_text().replace("\0", " "):
                    found[int(entry.name)] = (False, used)  # "postgres: user database host(port) state"
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
        return found

    def per_request(self, before: dict[int, tuple[bool, float]], requests: int) -> tuple[float, float]:
        """(server, PostgreSQL) CPU ms per request since `before`; a process that ended meanwhile is left out."""
        used = {True: 0.0, False: 0.0}
        for pid, (server, seconds) in self.sample().items():
            used[server] += seconds - before.get(pid, (server, 0.0))[1]
        n = max(requests, 1)
        return 1000 * used[True] / n, 1000 * used[False] / n


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100_000, help="clients to load")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per scenario and level")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each measurement")
    parser.add_argument(
        "--concurrency",
        type=int_list,
        default=[1, 4, 8],
        help="comma-separated client thread counts, one connection each (default 1,4,8)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes per server")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap on requests per measurement")
    return parser.parse_args()


# --- database -------------------------------------------------------------------------------------------


def client_rows(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` clients with varied names, unique emails and random phones and birth dates."""
    firsts = rng.choices(FIRST_NAMES, cum_weights=_cum_weights(len(FIRST_NAMES)), k=count)
    lasts = rng.choices(LAST_NAMES, cum_weights=_cum_weights(len(LAST_NAMES)), k=count)
    oldest, span = date(1950, 1, 1), (date(2005, 12, 31) - date(1950, 1, 1)).days
    rows = []
    for i, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        email = f"{first}.{last}.{i}@example.com".lower()
        phone = f"+1 555 {rng.randrange(10_000_000):07d}"
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": phone,
                "date_of_birth": oldest + timedelta(days=rng.randrange(span + 1)),
                "search_text": client_search_text(first_name=first, last_name=last, email=email, phone=phone),
            }
        )
    return rows


def _cum_weights(n: int) -> list[float]:
    """Cumulative 1/sqrt(rank) weights: a few common names, a long tail of rare ones."""
    total, cumulative = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / math.sqrt(rank)
        cumulative.append(total)
    return cumulative


def load_clients(engine: Engine, count: int) -> float:
    """Insert `count` clients in batches; returns the seconds it took."""
    started = time.perf_counter()
    rows = client_rows(count, random.Random(SEED))
    with engine.begin() as conn:
        for start in range(0, len(rows), BATCH_SIZE):
            conn.execute(insert(Client), rows[start : start + BATCH_SIZE])
    return time.perf_counter() - started


def create_desk_user(engine: Engine, password: str) -> None:
    """A front-desk account for the load generator to log in as."""
    with Session(engine) as session, session.begin():
        add_user(session, email=USER_EMAIL, password=password, full_name="Bench Desk", role=Role.FRONT_DESK)


def match_count(engine: Engine, q: str | None) -> int:
    """How many live clients' search_text contains every term (plain SQL, independent of the service)."""
    sql = text(
        "SELECT count(*) FROM clients WHERE deleted_at IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM unnest(CAST(:terms AS text[])) AS term WHERE strpos(search_text, term) = 0)"
    )
    with engine.connect() as conn:
        return int(conn.scalar(sql, {"terms": search_terms(q)}) or 0)


# --- servers --------------------------------------------------------------------------------------------


def start_uvicorn(
    app_args: list[str], port: int, workers: int, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """uvicorn in its own process group, output to `log_path`."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        *app_args,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_uvicorn(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server's process group (its workers too), then kill it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until_ready(process: subprocess.Popen[bytes], port: int, path: str, log_path: Path) -> None:
    """Poll `path` until it answers 200; fail with the server's log if it dies or the deadline passes."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            status, _ = request_once(port, "GET", path)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready on {path} after {READY_TIMEOUT_S}s:\n{log_path.read_text()}")


def request_once(
    port: int, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One request on a fresh loopback connection: status and body."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def log_in(port: int, password: str) -> str:
    """A bearer token for the bench user."""
    form = urllib.parse.urlencode({"username": USER_EMAIL, "password": password})
    status, body = request_once(
        port, "POST", "/api/v1/auth/token", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    if status != 200:
        raise RuntimeError(f"log-in failed with {status}: {body[:300]!r}")
    return str(json.loads(body)["access_token"])


def app_env(data_dir: str) -> dict[str, str]:
    """The environment the real app reads its settings from."""
    env = dict(os.environ)
    env.update(
        {
            "GALVANI_DATABASE_URL": BENCH_URL,
            "GALVANI_DATA_DIR": data_dir,
            "GALVANI_SECRET_KEY": secrets.token_urlsafe(36),  # 48 characters
            "GALVANI_LOG_LEVEL": "WARNING",
        }
    )
    return env


# --- load -----------------------------------------------------------------------------------------------


def run_load(
    port: int, scenario: Scenario, headers: dict[str, str], seconds: float, concurrency: int, max_requests: int
) -> Result:
    """`concurrency` threads, each with one keep-alive connection, request until time or count runs out."""
    per_thread = math.ceil(max_requests / concurrency)
    tallies = [Tally() for _ in range(concurrency)]
    started = time.perf_counter()
    deadline = started + seconds
    threads = [
        threading.Thread(target=load_thread, args=(port, scenario.path, headers, deadline, per_thread, tally))
        for tally in tallies
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarize(scenario, concurrency, tallies, time.perf_counter() - started)


def load_thread(port: int, path: str, headers: dict[str, str], deadline: float, max_count: int, tally: Tally) -> None:
    """Request `path` on one connection until the deadline or `max_count` requests."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)
    try:
        while len(tally.latencies_ms) < max_count and time.perf_counter() < deadline:
            started = time.perf_counter()
            status = timed_get(conn, path, headers)
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            tally.statuses[status] += 1
    finally:
        conn.close()


def timed_get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    """GET `path` and read the body; the status, or 0 when the connection failed (it reconnects next)."""
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return 0


def summarize(scenario: Scenario, concurrency: int, tallies: list[Tally], seconds: float) -> Result:
    """Merge the threads' tallies into one result."""
    latencies = sorted(ms for tally in tallies for ms in tally.latencies_ms)
    statuses: Counter[int] = Counter()
    for tally in tallies:
        statuses.update(tally.statuses)
    errors = sum(n for status, n in statuses.items() if status != 200)
    return Result(
        scenario=scenario,
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        statuses=dict(statuses),
    )


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when there are none)."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def measure(
    port: int, scenario: Scenario, headers: dict[str, str], concurrency: int, args: argparse.Namespace, meter: CpuMeter
) -> Result:
    """A warm-up (discarded), then the measured run, both with `concurrency` requests in flight."""
    if args.warmup > 0:
        run_load(port, scenario, headers, args.warmup, concurrency, args.max_requests)
    before = meter.sample()
    result = run_load(port, scenario, headers, args.seconds, concurrency, args.max_requests)
    app_cpu_ms, db_cpu_ms = meter.per_request(before, result.requests)
    result = replace(result, app_cpu_ms=app_cpu_ms, db_cpu_ms=db_cpu_ms)
    print(
        f"  c={concurrency:<3} {scenario.name:<30} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  CPU/request app {result.app_cpu_ms:.2f} ms, PostgreSQL {result.db_cpu_ms:.2f} ms"
        f"  errors {result.errors}  statuses {result.statuses}",
        flush=True,
    )
    return result


def check_page(port: int, scenario: Scenario, headers: dict[str, str], expected: int) -> None:
    """One request, to be sure the endpoint answers 200 with the page the database says it should."""
    status, body = request_once(port, "GET", scenario.path, headers=headers)
    if status != 200:
        raise RuntimeError(f"{scenario.name}: {status} {body[:300]!r}")
    items = len(json.loads(body)["items"])
    if items != min(expected, PAGE_LIMIT):
        raise RuntimeError(f"{scenario.name}: {items} items, expected {min(expected, PAGE_LIMIT)}")


# --- report ---------------------------------------------------------------------------------------------


def print_table(results: list[Result], bare: Result, matches: dict[str, int], workers: int) -> None:
    """One concurrency level's figures as a Markdown table, with ratios to the bare app at that level."""
    print(f"\nconcurrency {bare.concurrency}, {workers} worker(s):")
    print(
        "\n| scenario | matching rows | req/s | p50 ms | p99 ms | errors | rps real/bare | p99 real/bare "
        "| app CPU ms/req | PostgreSQL CPU ms/req |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(
            f"| {result.scenario.name} | {matches[result.scenario.name]} | {result.rps:.0f} | "
            f"{result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} | "
            f"{result.rps / bare.rps:.2f} | {result.p99_ms / bare.p99_ms:.1f} | "
            f"{result.app_cpu_ms:.2f} | {result.db_cpu_ms:.2f} |"
        )
    print(
        f"| {bare.scenario.name} | - | {bare.rps:.0f} | {bare.p50_ms:.1f} | {bare.p99_ms:.1f} | "
        f"{bare.errors} | 1.00 | 1.0 | {bare.app_cpu_ms:.2f} | - |"
    )


def print_machine(engine: Engine) -> None:
    """What ran the benchmark, and how it was started."""
    print(
        f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"PostgreSQL {postgres_version(engine)}, {platform.platform()}"
    )
    print(f"command: {shlex.join(sys.orig_argv)}", flush=True)


# --- main -----------------------------------------------------------------------------------------------


def prepare_database(count: int, password: str) -> tuple[Engine, dict[str, int]]:
    """A fresh galvani_bench with `count` clients and the bench user; the matches of each scenario."""
    recreate_database(BENCH_DB)
    upgrade(BENCH_URL)
    engine = create_engine(BENCH_URL)
    print(f"loaded {count} clients in {load_clients(engine, count):.1f}s", flush=True)
    vacuum_analyze(engine, "clients")
    create_desk_user(engine, password)
    matches = {scenario.name: match_count(engine, scenario.q) for scenario in SCENARIOS}
    for name, n in matches.items():
        print(f"  {name:<30} {n:6d} matching rows ({100 * n / count:.2f}%)")
    return engine, matches


def run_real(args: argparse.Namespace, tmp: Path, password: str, matches: dict[str, int]) -> dict[int, list[Result]]:
    """Start the real app, log in, check each search scenario, measure all of them at each level, stop it."""
    port = free_port()
    log_path = tmp / "real.log"
    process = start_uvicorn(
        ["--factory", "api.app:create_app"], port, args.workers, app_env(str(tmp / "data")), log_path
    )
    try:
        wait_until_ready(process, port, "/health", log_path)
        headers = {"Authorization": f"Bearer {log_in(port, password)}"}
        for scenario in SCENARIOS:
            check_page(port, scenario, headers, matches[scenario.name])
        print(f"real app on port {port}, {args.workers} worker(s):", flush=True)
        meter = CpuMeter(server_pgid=process.pid, database=BENCH_DB)  # start_uvicorn made it a group leader
        return {
            level: [measure(port, scenario, headers, level, args, meter) for scenario in SCENARIOS]
            for level in args.concurrency
        }
    finally:
        stop_uvicorn(process)


def run_bare(args: argparse.Namespace, tmp: Path) -> dict[int, Result]:
    """Start the bare app, measure its one route at each level, stop it."""
    port = free_port()
    log_path = tmp / "bare.log"
    process = start_uvicorn(
        ["--app-dir", str(BENCH_DIR), "bare_app:app"], port, args.workers, dict(os.environ), log_path
    )
    try:
        wait_until_ready(process, port, BARE.path, log_path)
        print(f"bare app on port {port}, {args.workers} worker(s):", flush=True)
        meter = CpuMeter(server_pgid=process.pid)
        return {level: measure(port, BARE, {}, level, args, meter) for level in args.concurrency}
    finally:
        stop_uvicorn(process)


def main() -> None:
    """Load, measure, report."""
    args = parse_args()
    password = secrets.token_urlsafe(24)
    engine, matches = prepare_database(args.clients, password)
    try:
        print_machine(engine)
        with tempfile.TemporaryDirectory(prefix="galvani-bench-") as tmp:
            results = run_real(args, Path(tmp), password, matches)
            bare = run_bare(args, Path(tmp))
        for level in args.concurrency:
            print_table(results[level], bare[level], matches, args.workers)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
