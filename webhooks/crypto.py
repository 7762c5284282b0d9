"""Endpoint secrets: encrypted at rest, and the Standard Webhooks signature.

Secrets are stored as Fernet ciphertext (AES-128-CBC + HMAC-SHA256, from ``cryptography``)
under a key derived with HKDF from WS_WEBHOOK_KEY, else from SECRET_KEY: a copy of the
database alone does not reveal them. They are never logged nor shown again after entry.

The signature follows the Standard Webhooks specification: ``webhook-signature: v1,<base64
HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>``, the key being the base64
part of a ``whsec_...`` secret, or the secret's UTF-8 bytes for any other string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "whsec_"
MIN_SECRET_LENGTH = 16


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted (WS_WEBHOOK_KEY / SECRET_KEY changed)."""


@lru_cache(maxsize=4)
def _fernet(master: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"fivem-platform webhooks secret").derive(
        master.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _key() -> Fernet:
    return _fernet(settings.WS_WEBHOOK_KEY or settings.SECRET_KEY)


def new_secret() -> str:
    """A fresh ``whsec_`` secret (24 random bytes)."""
    return PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


def check_secret(secret: str) -> str:
    """The secret as given, or ValueError when too short or a malformed ``whsec_`` one."""
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"a webhook secret needs at least {MIN_SECRET_LENGTH} characters")
    signing_key(secret)
    return secret


def signing_key(secret: str) -> bytes:
    if secret.startswith(PREFIX):
        try:
            key = base64.b64decode(secret[len(PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
        if len(key) < 16:
            raise ValueError("a whsec_ secret must hold at least 16 bytes")
        return key
    return secret.encode()


def encrypt(secret: str) -> str:
    return _key().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _key().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the endpoint's secret cannot be decrypted with this key") from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value for one request."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, message_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether ``header`` (space-separated ``v1,<sig>`` values) holds a valid signature."""
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, part) for part in header.split())
