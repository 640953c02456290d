"""`galvani gateway-health`: the health the gateway last wrote to its file, judged for compose's health check.

The gateway writes `{"status", "role", "problems": [{"part", "since"}], "written_at"}` every second. It is
healthy while it keeps writing and is `ok` or `degraded`: a degraded gateway (its database away, say) still
stops devices, and restarting it would not bring the database back. A `down` gateway, or a file that is
missing, unreadable or no longer written (a hung or dead gateway), is not healthy.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ValidationError

MAX_AGE = timedelta(seconds=10)


class Problem(BaseModel):
    part: str
    since: AwareDatetime


class GatewayHealth(BaseModel):
    status: Literal["ok", "degraded", "down"]
    role: Literal["active", "standby"]
    problems: list[Problem] = []
    written_at: AwareDatetime


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    line: str


def judge(path: Path, *, now: datetime) -> Verdict:
    """Whether the gateway at `path` is healthy at `now`, with one plain line that says why."""
    try:
        health = GatewayHealth.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return Verdict(False, f"gateway health unknown: {path} does not exist (is the gateway running?)")
    except OSError as exc:
        return Verdict(False, f"gateway health unknown: cannot read {path}: {exc.strerror}")
    except ValidationError:
        return Verdict(False, f"gateway health unknown: {path} is not a health report the gateway writes")
    age = now - health.written_at
    if abs(age) > MAX_AGE:  # far in the future counts too: a clock set back must not keep a dead gateway healthy
        return Verdict(
            False,
            f"gateway silent: its health was last written at {_clock(health.written_at, now)}, "
            f"{age.total_seconds():.0f} s ago",
        )
    line = f"gateway {health.status} ({health.role})"
    if health.problems:
        line += ": " + ", ".join(f"{problem.part} since {_clock(problem.since, now)}" for problem in health.problems)
    return Verdict(health.status != "down", line)


def _clock(moment: datetime, now: datetime) -> str:
    """UTC time of day, with the date when it is not today: 10:02:11Z, 2026-11-19 10:02:11Z."""
    moment, today = moment.astimezone(UTC), now.astimezone(UTC).date()
    return moment.strftime("%H:%M:%SZ" if moment.date() == today else "%Y-%m-%d %H:%M:%SZ")
