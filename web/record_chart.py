"""The session record's chart as SVG geometry: the whole treatment's delivered current (mean and peak per second)
against each step's prescribed current and the device's cap, with the contact losses shaded. Drawn on the server,
so it prints as it shows and needs no script; colours come from classes in records.css (the page's policy forbids
style attributes)."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PRINTED_HEIGHT = 960, 300, 230
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 34, 40
Scale = Callable[[float], float]
GAP_S = 0.5  # as api/services/session_timeline: more than this between blocks breaks the line


@dataclass(frozen=True)
class Tick:
    at: float  # pixels along its axis
    label: str


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    label: str = ""


@dataclass(frozen=True)
class Level:
    x1: float
    x2: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, right, bottom
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    mean: str  # SVG path data
    peak: str
    prescribed: list[Level]
    cap: Level | None
    contact_losses: list[Band]
    resumed: list[Band]  # where a later session of the treatment begins (width 0)
    empty: bool


def draw(chart: dict[str, Any], *, height: int = HEIGHT) -> Chart:
    """Scale the record's chart data (api/services/session_timeline.chart) to the SVG's pixels (`height`: lower
    for the print view's page)."""
    points, steps = chart["points"], chart["steps"]
    total = float(max([1.0, *(s["to_s"] for s in chart["sessions"]), *(p[0] + p[1] for p in points)]))
    highest = float(max([1.0, chart["cap_ua"], *(p[3] for p in points), *(s["prescribed_ua"] for s in steps)]))
    y_step = nice_step(highest * 1.1 / 5)
    top_ua = y_step * math.ceil(highest * 1.1 / y_step)
    left, top, right, bottom = LEFT, TOP, WIDTH - RIGHT, height - BOTTOM

    def x(seconds: float) -> float:
        return round(left + (right - left) * seconds / total, 1)

    def y(ua: float) -> float:
        return round(bottom - (bottom - top) * min(ua, top_ua) / top_ua, 1)

    x_step = nice_step(total / 8, seconds=True)
    return Chart(
        width=WIDTH,
        height=height,
        plot=(left, top, right, bottom),
        x_ticks=[Tick(x(s), clock(s)) for s in _steps_up_to(total, x_step)],
        y_ticks=[Tick(y(ua), f"{ua:g}") for ua in _steps_up_to(top_ua, y_step)],
        mean=_path(points, 2, x, y),
        peak=_path(points, 3, x, y),
        prescribed=[
            Level(x(s["span"][0]), x(s["span"][1]), y(s["prescribed_ua"]), f"{s['step'] + 1} {s['zone']}")
            for s in steps
        ],
        cap=Level(left, right, y(chart["cap_ua"]), f"device cap {chart['cap_ua']:g} µA") if chart["cap_ua"] else None,
        contact_losses=[Band(x(a), max(x(b) - x(a), 2.0)) for a, b in chart["contact_losses"]],
        resumed=[Band(x(s["from_s"]), 0, "resumed") for s in chart["sessions"][1:]],
        empty=not points,
    )


def _path(points: list[list[float]], column: int, x: Scale, y: Scale) -> str:
    """A line through each block's middle, lifted where blocks are missing (a lost message, no contact)."""
    parts, end = [], None
    for start, seconds, *values in points:
        move = "M" if end is None or start - end > GAP_S else "L"
        parts.append(f"{move}{x(start + seconds / 2)} {y(values[column - 2])}")
        end = start + seconds
    return " ".join(parts)


def nice_step(rough: float, *, seconds: bool = False) -> float:
    """1, 2 or 5 times a power of ten at or above `rough`; for seconds, a step a clock reads easily."""
    if seconds:
        return next((s for s in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800) if s >= rough), 3600)
    power = 10.0 ** math.floor(math.log10(max(rough, 1e-9)))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def _steps_up_to(end: float, step: float) -> list[float]:
    return [i * step for i in range(int(end // step) + 1)]


def clock(seconds: float) -> str:
    """1:05 for 65 s."""
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"
