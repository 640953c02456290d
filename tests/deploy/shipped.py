"""The deployment as shipped, read as data: docker-compose.yml, and the Mosquitto configuration, ACL and start
script it mounts."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
MOSQUITTO_ACL = ROOT / "deploy" / "mosquitto" / "acl"
RUN_SH = ROOT / "deploy" / "mosquitto" / "run.sh"

# The broker names every client after its username (use_username_as_clientid), so each gateway logs in as a user of
# its own, named like its GALVANI_GATEWAY_ID, and so does the broker's health check: under a shared user each login
# would push the other off.
GATEWAY_USERS = ("galvani-gateway-a", "galvani-gateway-b")
GATEWAY_USER = GATEWAY_USERS[0]  # the gateway, where a test needs one
HEALTH_USER = "galvani-healthcheck"
GATEWAY_RULES = {
    "topic read clinic/v1/devices/+/+",
    "topic read $share/galvani/clinic/v1/devices/+/+",
    "topic write clinic/v1/devices/+/commands",
    "topic write clinic/v1/gateway/status",
    "topic read $SYS/broker/publish/messages/dropped",
}


def compose() -> dict[str, Any]:
    """docker-compose.yml, loaded."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, Any]:
    """docker-compose.yml's services by name."""
    return compose()["services"]


def healthcheck(service: str) -> list[str]:
    """The service's health check command, with compose's `$$` (a literal `$`) read as the container sees it."""
    test = services()[service]["healthcheck"]["test"]
    for part in test:
        # Any other $ would be filled in by compose from the host's environment when it reads the file.
        assert "$" not in part.replace("$$", ""), f"{service}: write $ as $$ in the health check"
    return [part.replace("$$", "$") for part in test]


def conf_lines(path: Path) -> list[str]:
    """Non-empty lines without comments (Mosquitto only has whole-line comments)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def acl_users() -> dict[str, set[str]]:
    """Each user of the acl and its `topic` lines."""
    users: dict[str, set[str]] = {}
    rules: set[str] | None = None
    for line in conf_lines(MOSQUITTO_ACL):
        if line.startswith("user "):
            name = line.removeprefix("user ")
            assert name not in users, f"{name} appears twice"
            rules = users[name] = set()
        elif rules is not None:
            # Patterns apply to every client wherever they stand: after a user they would read as that user's.
            assert line.startswith("topic "), f"{line!r} after a user line"
            rules.add(line)
    return users
