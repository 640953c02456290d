"""TLS as shipped: `galvani certificates` makes the clinic CA and the server certificates; the shipped Mosquitto lets
devices in on its TLS port only, and only clients that trust the clinic CA; the gateway connects with mqtts://; and
`galvani api` serves HTTPS with the certificate it is given, which compose's health check reads."""

import io
import os
import queue
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import ValidationError

from db import migrate
from db.settings import Settings
from device_gateway import topics
from device_gateway.broker_url import parse_broker_url
from device_gateway.gateway import Gateway
from device_gateway.runner import GatewayRunner
from galvani.certificates import CertificateError, make_certificates
from galvani.cli import main
from galvani.https import https_options
from tests.deploy import shipped
from tests.deploy.broker import MQTT_TIMEOUT_S, Broker, clients, running, running_mosquitto
from tests.deploy.shipped import GATEWAY_USER
from tests.mqtt import mosquitto_program
from tests.services import free_port

FILES = {"ca.pem", "ca-key.pem", "https.pem", "https-key.pem", "broker.pem", "broker-key.pem"}
KEYS = {name for name in FILES if name.endswith("-key.pem")}
USERS = {GATEWAY_USER: "gateway-password", "gd-room1": "device-password"}
API_START_S = 60.0  # a few seconds, but much longer on a busy machine


def _certificates_command(folder: Path, *hosts: str) -> tuple[int, str, str]:
    """`galvani certificates FOLDER --host HOST ...`, run in this process (a new Python would take seconds to start
    on a busy machine): its exit status, output and errors."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["certificates", str(folder), *(f"--host={host}" for host in hosts)])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The certificates `galvani certificates` makes for this machine, made once for these tests."""
    folder = tmp_path_factory.mktemp("tls") / "certs"
    code, out, err = _certificates_command(folder, "localhost", "127.0.0.1")
    assert code == 0, err
    assert out.startswith(f"made a new clinic CA in {folder / 'ca.pem'}"), out
    return folder


def _cert(folder: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((folder / name).read_bytes())


def _names(cert: x509.Certificate) -> set[str]:
    return {str(name.value) for name in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value}


# --- galvani certificates -----------------------------------------------------------------------------------------


def test_the_command_makes_a_clinic_ca_and_a_certificate_for_each_server(certs: Path) -> None:
    assert {path.name for path in certs.iterdir()} == FILES
    assert {path.name for path in certs.iterdir() if path.stat().st_mode & 0o077} == FILES - KEYS  # keys: 0600
    ca = _cert(certs, "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > timedelta(days=9 * 365)  # the devices' working life
    now = datetime.now(UTC)
    for name, extra in (("https.pem", set()), ("broker.pem", {"mosquitto"})):  # the name compose's gateways use
        server = _cert(certs, name)
        server.verify_directly_issued_by(ca)
        assert _names(server) == {"localhost", "127.0.0.1", *extra}, name
        assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert server.not_valid_before_utc <= now
        assert timedelta(days=365) < server.not_valid_after_utc - now <= timedelta(days=825)  # browsers' limit
        key = serialization.load_pem_private_key((certs / name.replace(".pem", "-key.pem")).read_bytes(), None)
        assert _public(key.public_key()) == _public(server.public_key()), name
    assert _public(_cert(certs, "https.pem").public_key()) != _public(_cert(certs, "broker.pem").public_key())


def _public(key: object) -> bytes:
    assert hasattr(key, "public_bytes")
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def test_running_again_keeps_the_ca_unless_a_new_one_is_asked_for(certs: Path, tmp_path: Path) -> None:
    """Devices keep trusting the CA they were given: new server certificates (renewal, another host name) are signed
    by it. Only --new-ca replaces it."""
    folder = shutil.copytree(certs, tmp_path / "certs")
    ca, https = (folder / "ca.pem").read_bytes(), (folder / "https.pem").read_bytes()
    made = make_certificates(folder, ["galvani.clinic.example"])
    assert not made.new_ca
    assert (folder / "ca.pem").read_bytes() == ca
    assert (folder / "https.pem").read_bytes() != https
    assert _names(_cert(folder, "https.pem")) == {"galvani.clinic.example"}
    _cert(folder, "https.pem").verify_directly_issued_by(_cert(certs, "ca.pem"))

    assert make_certificates(folder, ["galvani.clinic.example"], new_ca=True).new_ca
    assert (folder / "ca.pem").read_bytes() != ca


def test_a_ca_without_its_key_is_neither_used_nor_replaced(certs: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(certs, tmp_path / "certs")
    (folder / "ca-key.pem").unlink()  # kept offline, say
    code, _, err = _certificates_command(folder, "localhost")
    assert code == 1
    assert err.startswith(f"no certificate made: {folder / 'ca.pem'} is there without {folder / 'ca-key.pem'}")
    assert "--new-ca" in err
    assert (folder / "ca.pem").read_bytes() == (certs / "ca.pem").read_bytes()


@pytest.mark.parametrize("host", ["https://galvani.clinic.example", "galvani.clinic.example:8443", "two words", ""])
def test_a_host_must_be_a_name_or_an_address(host: str, tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="neither a host name"):
        make_certificates(tmp_path, [host])
    assert not list(tmp_path.iterdir())  # nothing made


# --- the shipped Mosquitto over TLS --------------------------------------------------------------------------------


@pytest.fixture
def broker(certs: Path, tmp_path: Path) -> Iterator[Broker]:
    """The shipped config on a free port with the command's certificates, USERS registered."""
    mosquitto_program()
    shutil.copytree(certs, tmp_path / "certs")
    with running_mosquitto(tmp_path, USERS) as (running_broker, _):
        yield running_broker


def test_a_device_trusting_the_clinic_ca_logs_in_and_reports_its_status(broker: Broker) -> None:
    with clients(broker, USERS) as connect:
        gateway = connect(GATEWAY_USER)
        gateway.subscribe("clinic/v1/devices/+/status")
        device = connect("gd-room1", persistent=True)  # TLS, the clinic CA, its device_id and password
        device.publish("clinic/v1/devices/gd-room1/status", b'{"v":1,"state":"idle"}')
        assert gateway.next_message() == ("clinic/v1/devices/gd-room1/status", b'{"v":1,"state":"idle"}')


def test_plain_mqtt_on_the_tls_port_is_refused(broker: Broker) -> None:
    answers: queue.Queue[str] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gd-room1")
    client.username_pw_set("gd-room1", USERS["gd-room1"])
    client.on_connect = lambda *_: answers.put("connected")
    client.on_disconnect = lambda *_: answers.put("dropped")
    client.connect("127.0.0.1", broker.port)  # TCP only: the CONNECT goes out in plain text ...
    client.loop_start()
    try:
        assert answers.get(timeout=MQTT_TIMEOUT_S) == "dropped"  # ... and the broker hangs up without a CONNACK
    finally:
        client.disconnect()
        client.loop_stop()


def _handshake(broker: Broker, tls: ssl.SSLContext, name: str = "127.0.0.1") -> str:
    """The TLS version a client checking the broker with `tls`, as `name`, agrees on; raises when it refuses the
    broker's certificate. (paho would leave the refused connection's socket open for the garbage collector.)"""
    with (
        socket.create_connection(("127.0.0.1", broker.port), timeout=MQTT_TIMEOUT_S) as raw,
        tls.wrap_socket(raw, server_hostname=name) as connection,
    ):
        return str(connection.version())


def test_a_client_that_does_not_trust_the_clinic_ca_is_refused(broker: Broker, tmp_path: Path) -> None:
    """Another clinic's CA, or only the CAs of the system: the broker's certificate is not one they accept."""
    assert _handshake(broker, broker.trusting()) in {"TLSv1.2", "TLSv1.3"}
    other_clinic = make_certificates(tmp_path / "other-clinic", ["localhost", "127.0.0.1"]).folder / "ca.pem"
    for tls in (ssl.create_default_context(cafile=other_clinic), ssl.create_default_context()):
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            _handshake(broker, tls)


def test_a_device_refuses_a_broker_name_its_certificate_does_not_give(broker: Broker) -> None:
    """The broker's host name in the device must be one of its certificate's names."""
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(broker, broker.trusting(), name="galvani.elsewhere.example")


def test_the_gateway_connects_with_mqtts(broker: Broker, tmp_path: Path) -> None:
    url = f"mqtts://{GATEWAY_USER}:{USERS[GATEWAY_USER]}@127.0.0.1:{broker.port}"
    settings = Settings(data_dir=tmp_path, mqtt_url=url, mqtt_ca_file=broker.ca_file)
    assert GatewayRunner(settings).gateway.broker.tls is not None  # the runner reads the CA from the settings
    with clients(broker, USERS) as connect:
        device = connect("gd-room1", persistent=True)
        device.subscribe(topics.GATEWAY_STATUS)
        gateway = Gateway(parse_broker_url(url, broker.ca_file), client_id=GATEWAY_USER)
        gateway.start()
        try:
            assert gateway.connected.is_set()
            assert device.next_message() == (topics.GATEWAY_STATUS, topics.ONLINE)
        finally:
            gateway.stop()


# --- galvani api over HTTPS, and compose's health check for it ------------------------------------------------------


def test_the_api_serves_https_only_with_the_certificate_it_is_given(certs: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALVANI_")} | {
        "GALVANI_DATA_DIR": str(tmp_path),
        "GALVANI_TLS_CERTFILE": str(certs / "https.pem"),
        "GALVANI_TLS_KEYFILE": str(certs / "https-key.pem"),
    }
    migrate.upgrade(Settings(data_dir=tmp_path).resolved_database_url)  # as `galvani migrate` does, without its start
    port = free_port()
    api = [sys.executable, "-m", "galvani.cli", "api", "--port", str(port)]
    with running(api, port, tmp_path / "api.log", env, start_timeout=API_START_S):
        staff = ssl.create_default_context(cafile=certs / "ca.pem")  # a browser given the clinic CA
        assert httpx.get(f"https://localhost:{port}/health", verify=staff).status_code == 200
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the HTTPS port
            httpx.get(f"http://localhost:{port}/health")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://localhost:{port}/health")  # only the system's CAs
        assert _api_healthcheck(port).returncode == 0
    assert "Uvicorn running on https://" in (tmp_path / "api.log").read_text()


def test_https_needs_a_certificate_and_its_own_key(certs: Path) -> None:
    with pytest.raises(ValidationError, match="GALVANI_TLS_CERTFILE and GALVANI_TLS_KEYFILE go together"):
        Settings(tls_certfile=certs / "https.pem")
    assert https_options(Settings()) == {}  # plain HTTP: ./run on a developer's machine
    assert https_options(Settings(tls_certfile=certs / "https.pem", tls_keyfile=certs / "https-key.pem"))
    with pytest.raises(SystemExit, match="are not a certificate and its key"):
        https_options(Settings(tls_certfile=certs / "https.pem", tls_keyfile=certs / "broker-key.pem"))


def test_a_ca_for_the_broker_means_tls_to_the_broker(certs: Path) -> None:
    """A CA file beside a plain mqtt:// URL would look like TLS while everything crossed in plain text."""
    with pytest.raises(ValidationError, match="GALVANI_MQTT_URL must be mqtts://"):
        Settings(mqtt_url="mqtt://mosquitto:1883", mqtt_ca_file=certs / "ca.pem")
    broker = parse_broker_url("mqtts://gw:pw@mosquitto", certs / "ca.pem")
    assert (broker.port, broker.tls is not None) == (8883, True)
    assert parse_broker_url("mqtt://gw:pw@mosquitto").tls is None
    with pytest.raises(ValueError, match="GALVANI_MQTT_CA_FILE"):
        parse_broker_url("mqtts://gw:pw@mosquitto", certs / "no-such-ca.pem")


def _api_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """docker-compose.yml's health check for the api, with the port moved to this test's."""
    kind, program, option, code = shipped.healthcheck("api")
    assert (kind, program, option) == ("CMD", "python", "-c")
    assert code.count(":8443/") == 1, code
    command = [sys.executable, "-c", code.replace(":8443/", f":{port}/")]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
