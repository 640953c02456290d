"""The session record's chart without a browser: points merged for a long treatment keep every peak and never
bridge a gap or a step; the drawn line is lifted where blocks are missing; the day-of answers in words."""

from api.services.session_timeline import CHART_POINTS, merged
from web.record_chart import clock, draw, nice_step
from web.routes.records import answers


def blocks(count: int, *, step: int = 0, start: float = 0.0, current: float = 200.0) -> list[list[float]]:
    """A block a second: [from_s, seconds, mean, peak, step]."""
    return [[start + i, 1.0, current, current + 1, step] for i in range(count)]


def test_a_short_treatment_keeps_a_point_a_second() -> None:
    points = blocks(300)
    assert merged(points) is points


def test_a_long_treatment_is_merged_keeping_its_peaks_and_its_steps() -> None:
    points = blocks(1000) + blocks(800, step=1, start=1000, current=150)
    points[1234][3] = 900.0  # an over-current in one second
    chart = merged(points)
    assert len(chart) <= CHART_POINTS + 2
    assert max(p[3] for p in chart) == 900.0
    assert {p[4] for p in chart if p[0] < 1000} == {0} and {p[4] for p in chart if p[0] >= 1000} == {1}
    assert sum(p[1] for p in chart) == 1800.0  # every second is still there


def test_merging_never_bridges_a_gap() -> None:
    points = blocks(700) + blocks(700, start=710)  # ten seconds without contact
    assert any(p[0] == 710 for p in merged(points))


def chart_of(points: list[list[float]], losses: list[list[float]] | None = None) -> dict:
    end = max(p[0] + p[1] for p in points)
    return {
        "sessions": [{"session_id": "a", "from_s": 0, "to_s": end}],
        "points": points,
        "steps": [{"step": 0, "zone": "cheeks", "prescribed_ua": 200, "span": [0, end]}],
        "contact_losses": losses or [],
        "cap_ua": 220,
    }


def test_the_line_is_lifted_where_blocks_are_missing() -> None:
    drawn = draw(chart_of(blocks(10) + blocks(10, start=14), [[10, 14]]))
    assert drawn.mean.count("M") == 2 and drawn.mean.count("L") == 18
    assert len(drawn.contact_losses) == 1 and drawn.contact_losses[0].width > 0


def test_the_scale_holds_the_cap_and_every_peak() -> None:
    drawn = draw(chart_of(blocks(10, current=180)))
    left, top, right, bottom = drawn.plot
    assert drawn.cap is not None and top <= drawn.cap.y < bottom
    assert [t.label for t in drawn.y_ticks] == ["0", "50", "100", "150", "200", "250"]
    assert drawn.x_ticks[0].label == "0:00" and drawn.x_ticks[0].at == left


def test_nothing_delivered_says_so() -> None:
    drawn = draw(
        {
            "sessions": [{"session_id": "a", "from_s": 0, "to_s": 0}],
            "points": [],
            "steps": [],
            "contact_losses": [],
            "cap_ua": 220,
        }
    )
    assert drawn.empty and drawn.mean == ""


def test_steps_and_clock() -> None:
    assert [nice_step(x) for x in (0.3, 7, 44, 120)] == [0.5, 10, 50, 200]
    assert nice_step(40, seconds=True) == 60 and clock(65) == "1:05"


def test_the_day_of_answers_in_words() -> None:
    said = answers(
        {"pregnant": False, "retinol_last_used_on": "2026-11-30", "laser_last_on": None, "botox_zones": None}
    )
    assert [answer for _, answer in said] == ["No", "30 Nov 2026", "Never", "As screened"]
    assert answers(None) == []
