"""Standard Webhooks signing, written once: secrets, the signature, the headers.

signature = base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")), key = the
base64-decoded part of the secret after "whsec_".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret: whsec_ + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    raw = secret[len(PREFIX) :] if secret.startswith(PREFIX) else secret
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: "v1," + base64 HMAC-SHA256 over id, timestamp and body."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers one delivery attempt carries."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
