"""The clinic's own certificate authority and the server certificates it signs (`galvani certificates`).

Devices and staff browsers are given the CA's certificate (ca.pem) once. The server certificates, one for the staff
HTTPS site and one for the broker, each with a key of its own, can then be made again (a new host name, or renewal
before they expire) without touching any device: the CA is kept, and a new one is only made when asked for.
"""

import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
HTTPS_CERT, HTTPS_KEY = "https.pem", "https-key.pem"
BROKER_CERT, BROKER_KEY = "broker.pem", "broker-key.pem"
CA_DAYS = 3650  # devices keep the CA's certificate for their working life
SERVER_DAYS = 825  # the longest any browser accepts from a private CA (Apple's limit); renew by running again
BACKDATE = timedelta(minutes=5)  # a device whose clock is a little behind still accepts a certificate made just now
# The name by which the gateways and the broker's health check reach the broker inside docker-compose.yml's network.
COMPOSE_BROKER_HOST = "mosquitto"
_DNS_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")

_CAKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CertificateError(Exception):
    """Why no certificate was made, in words for the operator."""


@dataclass(frozen=True)
class MadeCertificates:
    folder: Path
    new_ca: bool  # False: the CA already in the folder signed the server certificates
    hosts: tuple[str, ...]
    expires: datetime  # when the server certificates expire


def make_certificates(folder: Path, hosts: Sequence[str], *, new_ca: bool = False) -> MadeCertificates:
    """The server certificates for `hosts`, signed by the folder's CA, which is made first if there is none (or
    replaced with `new_ca`). Private keys are readable by their owner only."""
    names = [_subject_alt_name(host) for host in dict.fromkeys(hosts)]
    if not names:
        raise CertificateError("name at least one host (--host) by which staff and devices reach the server")
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    made_ca = new_ca or not ((folder / CA_CERT).exists() or (folder / CA_KEY).exists())
    ca_cert, ca_key = _new_ca(folder, hosts[0], now) if made_ca else _existing_ca(folder, now)
    expires = min(now + timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc)
    _server(folder, HTTPS_CERT, HTTPS_KEY, names, ca_cert, ca_key, now, expires)
    compose_name = x509.DNSName(COMPOSE_BROKER_HOST)
    broker_names = names if compose_name in names else [*names, compose_name]
    _server(folder, BROKER_CERT, BROKER_KEY, broker_names, ca_cert, ca_key, now, expires)
    return MadeCertificates(folder=folder, new_ca=made_ca, hosts=tuple(dict.fromkeys(hosts)), expires=expires)


def _subject_alt_name(host: str) -> x509.GeneralName:
    """An IP address or a DNS name, as a certificate names it."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _DNS_NAME.match(host.lower()):
        raise CertificateError(
            f"{host!r} is neither a host name (like galvani.clinic.example) nor an IP address: give the name alone, "
            "without https:// or a port"
        )
    return x509.DNSName(host.lower())


def _new_ca(folder: Path, first_host: str, now: datetime) -> tuple[x509.Certificate, _CAKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Galvani clinic"),
            # Each clinic's CA named apart: a browser that knows two clinics' CAs must not take one for the other.
            x509.NameAttribute(NameOID.COMMON_NAME, f"Galvani clinic CA {first_host}"[:64]),
        ]
    )
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (_usage(key_cert_sign=True, crl_sign=True), True),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
    ]
    cert = _sign(name, name, key.public_key(), key, now, now + timedelta(days=CA_DAYS), extensions)
    _write_key(folder / CA_KEY, key)
    _write_cert(folder / CA_CERT, cert)
    return cert, key


def _existing_ca(folder: Path, now: datetime) -> tuple[x509.Certificate, _CAKey]:
    """The CA already in the folder, with its key: devices trust it, so it is kept."""
    cert_path, key_path = folder / CA_CERT, folder / CA_KEY
    for there, missing in ((cert_path, key_path), (key_path, cert_path)):
        if not missing.exists():
            raise CertificateError(
                f"{there} is there without {missing}: put it back to sign new server certificates with this CA, "
                "or make a new CA with --new-ca (every device and browser then needs the new ca.pem)"
            )
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"the CA in {folder} cannot be read ({exc})") from None
    if not isinstance(key, _CAKey) or _public(key.public_key()) != _public(cert.public_key()):
        raise CertificateError(f"{key_path} is not the key of {cert_path}")
    if cert.not_valid_after_utc <= now + timedelta(days=30):
        raise CertificateError(
            f"the clinic CA in {cert_path} expires on {cert.not_valid_after_utc:%Y-%m-%d}: make a new one with "
            "--new-ca, and give every device and browser the new ca.pem"
        )
    return cert, key


def _public(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _server(
    folder: Path,
    cert_name: str,
    key_name: str,
    names: list[x509.GeneralName],
    ca_cert: x509.Certificate,
    ca_key: _CAKey,
    now: datetime,
    expires: datetime,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = names[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(first.value))])
    ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_usage(digital_signature=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(names), False),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), False),
    ]
    cert = _sign(subject, ca_cert.subject, key.public_key(), ca_key, now, expires, extensions)
    _write_key(folder / key_name, key)
    _write_cert(folder / cert_name, cert)


def _usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: _CAKey,
    now: datetime,
    expires: datetime,
    extensions: Iterable[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(expires)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _replace(path, pem, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _replace(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _replace(path: Path, content: bytes, mode: int) -> None:
    """Write a new file beside `path`, made with `mode` from the start (a key is never readable by others, not even
    for a moment), then put it in place in one step: a reader sees the old file or the new one."""
    new = path.with_name(f".{path.name}.new")
    new.unlink(missing_ok=True)
    descriptor = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    os.chmod(new, mode)  # whatever the umask took away from a certificate's mode
    os.replace(new, path)
