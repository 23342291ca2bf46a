"""Webhook signatures, service-to-service auth and password hashing.

Webhook signature (the public contract):
    X-Webhook-Timestamp: <unix seconds>
    X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import time
from typing import Iterable

import bcrypt
from flask import current_app, request

from core.errors import ApiError
from core.logging import security_event

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SERVICE_TOKEN_HEADER = "X-Service-Token"
BCRYPT_MAX_BYTES = 72


class SignatureError(Exception):
    """Why a signature was refused; the message is safe to return to the caller."""


def compute_signature(secret: str, timestamp: str | int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: "sha256=" + compute_signature(secret, ts, body),
    }


def verify_signature(secrets: Iterable[str], body: bytes, signature: str | None, timestamp: str | None,
                     tolerance_seconds: int, now: float | None = None) -> None:
    """Raise SignatureError unless one of `secrets` signed `body` within the tolerance."""
    if not signature or not timestamp:
        raise SignatureError("missing signature headers")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("malformed timestamp") from None
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_seconds:
        raise SignatureError("timestamp outside the tolerance window")
    scheme, _, provided = signature.partition("=")
    if scheme != "sha256" or not provided:
        raise SignatureError("malformed signature")
    matched = False
    for secret in secrets:
        # Compare against every secret (no early exit) so timing says nothing about which.
        matched |= hmac.compare_digest(compute_signature(secret, ts, body), provided)
    if not matched:
        raise SignatureError("signature mismatch")


def verify_request_signature() -> None:
    """Check the current request's webhook signature or raise a 401 ApiError."""
    settings = current_app.config["SETTINGS"]
    try:
        verify_signature(settings.webhook_signing_secrets, request.get_data(cache=True),
                         request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER),
                         settings.webhook_tolerance_seconds)
    except SignatureError as exc:
        security_event("webhook_signature_invalid", f"webhook signature refused: {exc} (path={request.path})",
                       reason=str(exc), path=request.path)
        raise ApiError(401, f"Invalid webhook signature: {exc}") from None


def has_service_token() -> bool:
    """Whether the current request carries SERVICE_TO_SERVICE_SECRET (compared in constant time)."""
    expected = current_app.config["SETTINGS"].service_to_service_secret
    provided = request.headers.get(SERVICE_TOKEN_HEADER, "")
    return bool(provided) and hmac.compare_digest(provided.encode(), expected.encode())


def service_auth_required(view):
    """Allow a view only to callers holding SERVICE_TO_SERVICE_SECRET (never a user token)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not has_service_token():
            security_event("service_token_refused", f"service token refused on {request.path}", path=request.path)
            raise ApiError(403, "Service token required")
        return view(*args, **kwargs)

    return wrapper


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def check_password(password: str, hashed: str) -> bool:
    encoded = password.encode()
    if len(encoded) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, hashed.encode())
    except ValueError:
        return False
