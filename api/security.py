"""Password hashes (argon2) and signed, expiring bearer tokens (JWT, HS256)."""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Checked against when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")
TOKEN_ALGORITHM = "HS256"  # noqa: S105  (an algorithm name)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether the password matches; None is checked against a dummy hash, so that it takes as long."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    generation: int  # the account's token_generation when the token was issued


def create_access_token(*, user_id: uuid.UUID, generation: int, key: str, now: datetime, minutes: int) -> str:
    claims = {
        "sub": str(user_id),
        "gen": generation,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
    }
    return jwt.encode(claims, key, algorithm=TOKEN_ALGORITHM)


def read_access_token(token: str, *, key: str, now: datetime | None = None) -> TokenClaims | None:
    """Whom a valid, unexpired token names, and from which generation; None for anything else.

    A token's signature is checked once per process: its claims cannot change, only run out, and that is
    checked on every use (`now`: the time to judge it at, else the clock's). Whether the account may still use
    it (active, same generation) is the caller's to ask the database each time, since another worker may have
    ended it."""
    decoded = _decoded(token, key)
    if decoded is None:
        return None
    claims, expires_at = decoded
    return claims if (now.timestamp() if now else time.time()) < expires_at else None


@lru_cache(maxsize=4096)
def _decoded(token: str, key: str) -> tuple[TokenClaims, float] | None:
    try:
        claims = jwt.decode(token, key, algorithms=[TOKEN_ALGORITHM], options={"require": ["sub", "exp", "gen"]})
        if claims.get("typ") != "access" or type(claims["gen"]) is not int:
            return None
        return TokenClaims(user_id=uuid.UUID(claims["sub"]), generation=claims["gen"]), float(claims["exp"])
    except (jwt.PyJWTError, ValueError):
        return None
