"""Builds that are the same every time: images at exact versions, the Python dependencies from lock files with
hashes, and every install (the image, ./run, ./run-tests and so CI) taking them from those files."""

import re
import tomllib
from pathlib import Path

import pytest

from tests.deploy.shipped import ROOT, compose

DOCKERFILE = ROOT / "Dockerfile"
APP_LOCK = ROOT / "requirements" / "app.lock"
TEST_LOCK = ROOT / "requirements" / "test.lock"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# name:1.2.3 with an optional -variant; PostgreSQL's releases have two numbers (16.10).
EXACT_TAG = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+(-[\w.-]+)?$")
POSTGRES_TAG = re.compile(r"^postgres:\d+\.\d+(-[\w.-]+)?$")
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)")
REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9._-]+")


def exact(image: str) -> bool:
    """Pinned by digest, or to one release (a tag that a new release never moves)."""
    return bool(DIGEST.search(image) or EXACT_TAG.match(image) or POSTGRES_TAG.match(image))


def dockerfile_images() -> list[str]:
    return [line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("FROM ")]


def pins(lock: Path) -> dict[str, str]:
    """name -> version of every package a lock file pins (names normalised as PyPI does)."""
    found = (PIN.match(line) for line in lock.read_text().splitlines())
    return {_normal(m["name"]): m["version"] for m in found if m}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_normal(match[0]) for r in requirements if (match := REQUIREMENT_NAME.match(r))}


@pytest.mark.parametrize("image", [s["image"] for s in compose()["services"].values() if "image" in s])
def test_compose_images_are_exact_versions(image: str) -> None:
    assert exact(image), f"{image} is not pinned to an exact version or digest"


@pytest.mark.parametrize("image", dockerfile_images())
def test_dockerfile_base_images_are_exact_versions(image: str) -> None:
    assert exact(image), f"{image} is not pinned to an exact version or digest"


def test_the_pin_check_refuses_moving_tags() -> None:
    for moving in ("postgres:16", "eclipse-mosquitto:2", "python:3.11-slim", "python:latest", "redis", "x:1.2.3x"):
        assert not exact(moving), moving
    assert exact("redis@sha256:" + "0" * 64)


def test_every_long_running_service_has_a_health_check() -> None:
    services = compose()["services"]
    running = [name for name, s in services.items() if s.get("restart", "no") != "no"]
    assert {"postgres", "mosquitto", "api", "gateway"} <= set(running)
    assert [name for name in running if "healthcheck" not in services[name]] == []


@pytest.mark.parametrize("lock", [APP_LOCK, TEST_LOCK], ids=lambda p: p.name)
def test_every_locked_package_is_an_exact_version_with_hashes(lock: Path) -> None:
    text = lock.read_text()
    blocks = [b for b in re.split(r"\n(?=\S)", text) if PIN.match(b)]
    assert blocks, f"{lock.name} pins nothing"
    assert [b.split()[0] for b in blocks if "--hash=sha256:" not in b] == []
    assert not re.search(r"^[A-Za-z0-9._-]+\s*(>=|<=|~=|>|<|!=)", text, re.MULTILINE), "a range in a lock file"


def test_the_locks_hold_what_pyproject_asks_for_at_the_same_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    app, test = pins(APP_LOCK), pins(TEST_LOCK)
    assert _names(project["dependencies"]) <= app.keys()
    assert _names(project["optional-dependencies"]["test"]) <= test.keys()
    assert {name: (version, test.get(name)) for name, version in app.items() if test.get(name) != version} == {}


def test_the_image_installs_the_app_lock_with_hashes_and_then_galvani_alone() -> None:
    steps = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("RUN pip install")]
    assert steps == ["RUN pip install --require-hashes -r requirements/app.lock", "RUN pip install --no-deps ."]


@pytest.mark.parametrize(("script", "lock"), [("run", "app.lock"), ("run-tests", "test.lock")])
def test_the_scripts_install_from_their_lock(script: str, lock: str) -> None:
    lines = (ROOT / script).read_text().splitlines()
    assert f"install_locked requirements/{lock}" in lines
    assert not [line for line in lines if "pip install" in line], "an install that resolves by itself"


def test_ci_runs_the_readmes_test_command() -> None:
    assert "./run-tests" in (ROOT / ".ci" / "run").read_text()
    assert "./run-tests" in (ROOT / "README.md").read_text()
