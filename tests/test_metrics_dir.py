"""The folder `galvani api` shares between its workers for /metrics: fresh at every start, and what a killed API
left behind is removed at the next start."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from galvani.metrics_dir import PREFIX, VARIABLE, share_metrics_across_workers


def test_each_start_gets_a_fresh_folder_and_removes_what_dead_ones_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "")  # so that the variable the call sets is removed after the test
    monkeypatch.delenv(VARIABLE)
    dead = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_a_pid_no_process_has()}-"))
    (dead / "histogram_1.db").write_bytes(b"\0" * 8)
    alive = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getppid()}-"))  # another API's, still running
    try:
        folder = share_metrics_across_workers()
        assert os.environ[VARIABLE] == str(folder) and folder.is_dir() and not any(folder.iterdir())
        assert not dead.exists() and alive.is_dir()
    finally:
        for made in (alive, Path(os.environ.get(VARIABLE, alive))):
            made.rmdir()


def test_a_folder_given_is_emptied_of_an_earlier_runs_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, str(tmp_path / "metrics"))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_4242.db").write_bytes(b"\0" * 8)
    assert share_metrics_across_workers() == tmp_path / "metrics"
    assert list((tmp_path / "metrics").iterdir()) == []


def _a_pid_no_process_has() -> int:
    """A process's pid once it has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
