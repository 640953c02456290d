"""The devices' broker credentials for `galvani simulate --credentials FILE`: one `device_id:password` a line.

The passwords are the ones the API showed once at registration. They let anyone pose as the device on the
broker, so a file other users of the machine may open is refused, the way ssh refuses an open private key.
"""

import stat
from pathlib import Path


class CredentialsError(Exception):
    """The file cannot be used; the message says why, in words for the operator (never a password)."""


def read_credentials(path: Path) -> dict[str, str]:
    """Each device_id with its password, in the file's order; blank lines and `#` comments are skipped."""
    try:
        mode = path.stat().st_mode
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if mode & stat.S_IRWXO:
        raise CredentialsError(
            f"{path} holds device passwords but every user of this machine may open it "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )
    credentials: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        device_id, colon, password = line.strip().partition(":")  # a device_id never holds a colon
        if not colon or not device_id or not password:
            raise CredentialsError(f"{path}, line {number}: expected device_id:password")
        if device_id in credentials:
            raise CredentialsError(f"{path}, line {number}: {device_id} is listed twice")
        credentials[device_id] = password
    if not credentials:
        raise CredentialsError(f"{path} lists no device (one device_id:password a line)")
    return credentials
