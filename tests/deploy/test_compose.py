"""docker-compose.yml, checked as data (no Docker needed): the services, their commands, environments, health
checks and mounts."""

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.deploy import shipped
from tests.deploy.shipped import (
    GATEWAY_RULES,
    GATEWAY_USERS,
    HEALTH_USER,
    MOSQUITTO_ACL,
    MOSQUITTO_CONF,
    ROOT,
    RUN_SH,
)

APP_SERVICES = ("migrate", "api", "gateway", "gateway-standby")
GATEWAYS = ("gateway", "gateway-standby")
# What a service sets beyond the shared environment: each gateway its identity, the api its HTTPS certificate.
OWN_ENVIRONMENT = {
    **dict.fromkeys(GATEWAYS, {"GALVANI_GATEWAY_ID", "GALVANI_MQTT_URL"}),
    "api": {"GALVANI_TLS_CERTFILE", "GALVANI_TLS_KEYFILE"},
}


# One compose interpolation and nothing else: ${NAME}, ${NAME:-default}, ${NAME:?message}, ...
INTERPOLATION = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(?::?[-?+][^}]*)?\}")
# scheme://user:password@host...; the password part may hold `?`, so urllib's split cannot be used.
URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@\s]+:(?P<password>.+)@[^@]+$")


def test_all_five_services_exist() -> None:
    assert {"postgres", "mosquitto", "migrate", "api", "gateway"} <= set(shipped.services())


def test_app_services_share_one_build_and_environment() -> None:
    compose = shipped.compose()
    shared = compose["x-galvani"]
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["build"] == shared["build"] == ".", name
        its_own = OWN_ENVIRONMENT.get(name, set())
        own, common = (
            {key: value for key, value in environment.items() if key not in its_own}
            for environment in (service["environment"], shared["environment"])
        )
        assert own == common, name
        assert its_own <= set(service["environment"]), name
    environment = shared["environment"]
    assert environment["GALVANI_ENV"] == "production"
    assert environment["GALVANI_DATABASE_URL"].startswith("postgresql+psycopg://galvani:")
    # The api only checks that the broker answers, without logging in; each gateway logs in as itself, over TLS.
    assert environment["GALVANI_MQTT_URL"] == "mqtts://mosquitto:8883"


def test_two_gateways_run_alike_each_with_its_own_identity() -> None:
    """One holds the lease and the other stands by: the same command, volume and health check, never the same
    identity (in the lease, and on the broker, where two clients with one id push each other off)."""
    services = shipped.services()
    first, second = (services[name] for name in GATEWAYS)
    assert {first["environment"]["GALVANI_GATEWAY_ID"], second["environment"]["GALVANI_GATEWAY_ID"]} == {
        "galvani-gateway-a",
        "galvani-gateway-b",
    }
    for key in ("command", "volumes", "healthcheck", "depends_on"):
        assert first[key] == second[key], key


# mqtts://user:password@mosquitto:8883, the password being a compose interpolation (which may hold `?`).
GATEWAY_LOGIN = re.compile(r"^mqtts://(?P<user>[^:/@]+):(?P<password>.+)@mosquitto:8883$")


def test_each_gateway_logs_in_as_its_own_user_with_rights_and_a_password() -> None:
    """The broker takes a client's username as its client id: each gateway's user is its GALVANI_GATEWAY_ID, the acl
    gives that user the gateway's rules, and run.sh writes its password (every gateway in the file, not only these
    two, so a third one added without its account fails here)."""
    services = shipped.services()
    gateways = {name: service for name, service in services.items() if service.get("command") == "galvani gateway"}
    assert set(gateways) == set(GATEWAYS)
    for name, gateway in gateways.items():
        environment = gateway["environment"]
        login = GATEWAY_LOGIN.match(environment["GALVANI_MQTT_URL"])
        assert login, name
        assert login["user"] == environment["GALVANI_GATEWAY_ID"], name
        assert login["password"] == "${GALVANI_GATEWAY_MQTT_PASSWORD:?set GALVANI_GATEWAY_MQTT_PASSWORD}", name
    gateway_ids = {gateway["environment"]["GALVANI_GATEWAY_ID"] for gateway in gateways.values()}
    assert gateway_ids == set(GATEWAY_USERS)
    assert services["mosquitto"]["environment"]["GALVANI_GATEWAY_USERS"].split() == list(GATEWAY_USERS)
    assert {user for user, rules in shipped.acl_users().items() if rules == GATEWAY_RULES} == set(GATEWAY_USERS)


def test_each_app_service_runs_its_own_command() -> None:
    services = shipped.services()
    assert services["migrate"]["command"] == "galvani migrate"
    assert services["api"]["command"] == "galvani api --host 0.0.0.0 --port 8443 --workers 4"
    assert services["gateway"]["command"] == "galvani gateway"
    assert services["migrate"]["restart"] == "no"  # a one-shot job, not a daemon


def _environment_values() -> Iterator[tuple[str, str, str]]:
    compose = shipped.compose()
    sources = {"x-galvani": compose["x-galvani"], **compose["services"]}
    for owner, block in sources.items():
        environment = block.get("environment") or {}
        assert isinstance(environment, dict), f"{owner}: write environment as a mapping"
        for key, value in environment.items():
            yield owner, key, str(value)


def test_no_literal_secrets() -> None:
    checked = set()
    for owner, key, value in _environment_values():
        if any(word in key for word in ("PASSWORD", "SECRET")):
            assert INTERPOLATION.fullmatch(value), f"{owner}: {key} must come from ${{...}}, not the file"
            checked.add(key)
        url = URL_WITH_PASSWORD.match(value)
        if url:
            assert INTERPOLATION.fullmatch(url["password"]), f"{owner}: the password in {key} is literal"
            checked.add(key)
    assert {"POSTGRES_PASSWORD", "GALVANI_SECRET_KEY", "GALVANI_DATABASE_URL", "GALVANI_MQTT_URL"} <= checked


def test_api_and_gateway_start_after_the_migrations() -> None:
    services = shipped.services()
    for name in ("api", *GATEWAYS):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["mosquitto"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_postgres_has_a_healthcheck() -> None:
    postgres = shipped.services()["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert INTERPOLATION.fullmatch(postgres["environment"]["POSTGRES_PASSWORD"])


def test_api_healthcheck_asks_the_health_endpoint() -> None:
    check = " ".join(shipped.services()["api"]["healthcheck"]["test"])
    assert "https://localhost:8443/health" in check  # test_shipped_tls.py runs it against `galvani api`
    assert "curl" not in check  # python:3.11-slim has none


def test_gateway_healthcheck_runs_the_gateway_health_command() -> None:
    from galvani.cli import _parser, cmd_gateway_health

    assert shipped.healthcheck("gateway") == ["CMD", "galvani", "gateway-health"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["galvani"] == "galvani.cli:main"
    assert _parser().parse_args(["gateway-health"]).command is cmd_gateway_health


def test_mosquitto_healthcheck_reads_the_uptime_as_a_user_of_its_own() -> None:
    mosquitto = shipped.services()["mosquitto"]
    kind, command = shipped.healthcheck("mosquitto")
    assert kind == "CMD-SHELL"  # a shell, to take the password from the container's environment
    words = shlex.split(command)
    assert words[0] == "mosquitto_sub"
    options = dict(zip(words[1::2], words[2::2], strict=False))
    # Not a gateway's user: the broker would name the check after it and push that gateway off every 10 s.
    assert options["-u"] == HEALTH_USER
    assert options["-P"] == "$GALVANI_GATEWAY_MQTT_PASSWORD"
    assert "GALVANI_GATEWAY_MQTT_PASSWORD" in mosquitto["environment"]
    # Its user may read the uptime, or the check would wait until its timeout; and nothing else.
    assert shipped.acl_users()[HEALTH_USER] == {f"topic read {options['-t']}"}
    assert options["-C"] == "1"
    assert int(options["-W"]) < _seconds(mosquitto["healthcheck"]["timeout"])  # gives up before docker kills it


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def test_mosquitto_mounts_the_config_files_of_this_repository() -> None:
    compose = shipped.compose()
    mounts = _mounts(compose["services"]["mosquitto"])
    for target, repo_file in [
        ("/mosquitto/config/mosquitto.conf", MOSQUITTO_CONF),
        ("/mosquitto/config/acl", MOSQUITTO_ACL),
    ]:
        source, options = mounts[target]
        assert (ROOT / source).resolve() == repo_file, target
        assert repo_file.is_file(), repo_file
        assert options == ["ro"], target
    # The password file and the persistence database outlive the container.
    data_source, _ = mounts["/mosquitto/data"]
    assert data_source in compose["volumes"]


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """target -> (source, options) of each volume, written short (`source:target:ro`) or long (a mapping)."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            options = ["ro"] if volume.get("read_only") else []
            mounts[volume["target"]] = (volume["source"], options)
        else:
            source, target, *options = volume.split(":")
            mounts[target] = (source, options)
    return mounts


def test_compose_shares_the_device_users_between_gateway_and_broker() -> None:
    compose = shipped.compose()
    services = compose["services"]
    users_file = Path(compose["x-galvani"]["environment"]["GALVANI_DEVICE_USERS_FILE"])
    assert _mounts(services["gateway"])[str(users_file.parent)] == ("device-users", [])
    broker = _mounts(services["mosquitto"])
    assert broker["/mosquitto/users"] == ("device-users", ["ro"])
    assert broker["/mosquitto/run.sh"] == ("./deploy/mosquitto/run.sh", ["ro"])
    assert "device-users" in compose["volumes"]
    assert services["mosquitto"]["command"] == ["sh", "/mosquitto/run.sh"]
    assert f"/mosquitto/users/{users_file.name}" in RUN_SH.read_text()  # where run.sh looks by default


def test_the_gateway_healthcheck_command_reads_the_gateways_file(tmp_path: Path) -> None:
    _, *command = shipped.healthcheck("gateway")
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "GALVANI_DATA_DIR": str(tmp_path),
    }  # the gateway's data folder, where it writes by default

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)

    assert check().returncode == 1  # no gateway has written anything
    written_at = datetime.now(UTC).isoformat()
    (tmp_path / "gateway-health.json").write_text(
        json.dumps({"status": "ok", "role": "active", "problems": [], "written_at": written_at})
    )
    result = check()
    assert (result.returncode, result.stdout) == (0, "gateway ok (active)\n"), result.stderr


# --- TLS: certificates mounted where each service looks, and no plain port published -------------------------------


def test_only_tls_ports_are_published() -> None:
    """Devices reach the broker on 8883 and staff the api on 443 (8443 in the container), both TLS only; no plain
    1883 or 8000, and nothing else reaches the clinic network."""
    published = {name: service.get("ports", []) for name, service in shipped.services().items()}
    assert {name: ports for name, ports in published.items() if ports} == {
        "mosquitto": ["8883:8883"],
        "api": ["443:8443"],
    }
    assert "--port 8443" in shipped.services()["api"]["command"]
    assert _options(MOSQUITTO_CONF)["listener"] == ["8883"]  # the broker has no plain listener to publish


def _options(path: Path) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in shipped.conf_lines(path):
        key, _, value = line.partition(" ")
        options.setdefault(key, []).append(value)
    return options


def _certificate_mounts(service: str) -> dict[str, str]:
    """target -> file in ./certs of each certificate mounted into the service, checked to be read-only and to make
    compose stop when the file is missing (instead of making a folder in its place)."""
    mounts = {}
    for volume in shipped.services()[service].get("volumes", []):
        if isinstance(volume, dict) and volume["source"].startswith("./certs/"):
            assert volume["type"] == "bind" and volume["read_only"] is True, volume
            assert volume["bind"]["create_host_path"] is False, volume
            mounts[volume["target"]] = volume["source"].removeprefix("./certs/")
    return mounts


def test_each_service_gets_the_certificates_it_needs_and_no_ca_key() -> None:
    """The api its HTTPS certificate and key, the broker its own and the clinic CA, each gateway the clinic CA to
    check the broker with; the CA's key stays off the server's containers."""
    services = shipped.services()
    shared = shipped.compose()["x-galvani"]["environment"]
    api = services["api"]["environment"]
    assert _certificate_mounts("api") == {
        api["GALVANI_TLS_CERTFILE"]: "https.pem",
        api["GALVANI_TLS_KEYFILE"]: "https-key.pem",
    }
    for gateway in GATEWAYS:
        assert _certificate_mounts(gateway) == {shared["GALVANI_MQTT_CA_FILE"]: "ca.pem"}, gateway
    assert _certificate_mounts("mosquitto") == {
        "/mosquitto/certs/ca.pem": "ca.pem",
        "/mosquitto/certs/broker.pem": "broker.pem",
        "/mosquitto/certs/broker-key.pem": "broker-key.pem",
    }
    assert _certificate_mounts("migrate") == {}
    assert not [
        volume for service in services.values() for volume in service.get("volumes", []) if "ca-key" in str(volume)
    ]


def test_the_broker_reads_the_copies_run_sh_makes_of_its_mounted_certificates() -> None:
    """run.sh copies the mounted files (its default MOSQUITTO_CERTS_DIR) into the broker's own folder (its default
    MOSQUITTO_TLS_DIR), which mosquitto.conf names; the health check trusts the mounted CA."""
    script = RUN_SH.read_text()
    assert "certs_dir=${MOSQUITTO_CERTS_DIR:-/mosquitto/certs}" in script
    assert "tls_dir=${MOSQUITTO_TLS_DIR:-/mosquitto/tls}" in script
    assert "for file in ca.pem broker.pem broker-key.pem; do" in script
    options = _options(MOSQUITTO_CONF)
    assert {key: options[key] for key in ("cafile", "certfile", "keyfile")} == {
        "cafile": ["/mosquitto/tls/ca.pem"],
        "certfile": ["/mosquitto/tls/broker.pem"],
        "keyfile": ["/mosquitto/tls/broker-key.pem"],
    }
    _, command = shipped.healthcheck("mosquitto")
    assert "-h mosquitto -p 8883 --cafile /mosquitto/certs/ca.pem" in command  # by the name the gateways use
