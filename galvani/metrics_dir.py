"""The folder where `galvani api`'s workers keep their request metrics, so that a scrape adds them all up.

prometheus_client's multiprocess mode: each worker writes its values to files of its own in PROMETHEUS_MULTIPROC_DIR,
and whichever worker answers a scrape reads them all. The variable must be set before a worker starts, and the
folder must start empty: files left by an earlier run would be added to this one's.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "galvani-metrics-"  # then the pid of the API that made it


def share_metrics_across_workers() -> Path:
    """Set PROMETHEUS_MULTIPROC_DIR for the workers to come: the folder it names, emptied, or a new private one,
    removed again when this process ends (and at a later start, should this process be killed)."""
    given = os.environ.get(VARIABLE)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for left in folder.glob("*.db"):  # an earlier run's
            left.unlink()
        return folder
    _remove_folders_of_dead_processes()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[VARIABLE] = str(folder)
    return folder


def _remove_folders_of_dead_processes() -> None:
    """The folders that an API killed before it could remove them left behind (each is named by its pid)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
