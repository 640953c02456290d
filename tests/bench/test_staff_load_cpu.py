"""The load run's CPU figures: each group's CPU seconds between two snapshots, as % of one core."""

import math

from bench.staff_load_cpu import Snapshot, percent


def test_each_group_counts_its_cpu_since_the_start_and_new_processes_from_zero() -> None:
    start = Snapshot(at=100.0, seconds={"api": {1: 5.0, 2: 1.0}}, machine=(50.0, 100.0))
    end = Snapshot(
        at=110.0,
        seconds={"api": {1: 8.0, 2: 2.0, 3: 1.0}, "postgres": {4: 0.5}},  # 3 and the backend 4 came during the run
        machine=(150.0, 300.0),
    )
    used = percent(start, end)
    assert math.isclose(used["api"], 50.0)  # (3 + 1 + 1) s of CPU in 10 s
    assert math.isclose(used["postgres"], 5.0)
    assert math.isclose(used["machine (of all cores)"], 50.0)


def test_a_process_gone_by_the_end_takes_nothing_back() -> None:
    start = Snapshot(at=0.0, seconds={"devices": {7: 4.0}}, machine=(0.0, 1.0))
    end = Snapshot(at=2.0, seconds={"devices": {7: 0.0}}, machine=(0.0, 1.0))  # /proc no longer has it: 0
    assert percent(start, end)["devices"] == 0.0
