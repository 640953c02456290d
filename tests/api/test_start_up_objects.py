"""What the app's process made at start is left out of later garbage collections (api/app.py's lifespan)."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import SECRET_KEY

STARTS_AND_FREEZES = f"""
import gc
from fastapi.testclient import TestClient
from api.app import create_app
from db.settings import Settings

settings = Settings(data_dir=r"{{data_dir}}", secret_key="{SECRET_KEY}", mqtt_url=None)
app = create_app(settings)
assert gc.get_freeze_count() == 0, "frozen before the app started"
with TestClient(app):
    frozen = gc.get_freeze_count()
    assert frozen > 50_000, frozen  # the app's modules, routes and models
garbage = [[n] for n in range(10_000)]  # made after the first start: a second freeze would take it in too
with TestClient(app):
    assert gc.get_freeze_count() <= frozen, "a second start froze again"  # frozen objects may die, not join
"""


def test_the_first_start_freezes_what_start_up_made(tmp_path: Path) -> None:
    script = STARTS_AND_FREEZES.replace("{data_dir}", str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
