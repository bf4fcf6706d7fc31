"""Secrets: password hashing, API keys and tokens (only their hashes are stored)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

AGENT_KEY_PREFIX = "sva_"
USER_TOKEN_PREFIX = "svu_"
PRESENCE_TOKEN_PREFIX = "svp_"

_hasher = PasswordHasher()
# Verifying against this keeps "unknown user" as slow as "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in constant time; an absent hash still costs a full verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token(prefix: str) -> str:
    """A random bearer secret with a recognisable prefix, so scanners can find leaked ones."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy token: enough at rest, and indexable for lookup."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(stored_hash: str, token: str) -> bool:
    return hmac.compare_digest(stored_hash, token_hash(token))


def key_hint(token: str) -> str:
    """What may be shown of a key after creation: prefix and last four characters."""
    return f"{token[:4]}…{token[-4:]}"


def sign_body(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
