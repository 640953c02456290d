"""Device passwords in the form Mosquitto's password_file holds, so that the broker checks them itself.

The form is Mosquitto 2's `$7$`: PBKDF2-HMAC-SHA512 with a 12-byte salt, written as
`$7$<iterations>$<base64 salt>$<base64 hash>`, the same as `mosquitto_passwd` writes. The API hashes a
device's password when it issues it; the gateway writes the hashes into the broker's password file.
"""

import base64
import hashlib
import secrets

MOSQUITTO_PREFIX = "$7$"
# Mosquitto's own default. Stretching protects guessable passwords; device passwords are 192 random bits.
ITERATIONS = 101


def new_device_password() -> str:
    return secrets.token_urlsafe(24)


def hash_device_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return f"{MOSQUITTO_PREFIX}{ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def is_broker_hash(hashed: str) -> bool:
    """Whether Mosquitto can check this hash (devices registered before the broker took them have others)."""
    return hashed.startswith(MOSQUITTO_PREFIX)
