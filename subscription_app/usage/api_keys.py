"""API keys the operator's backend reports usage with: shown once, kept as SHA-256, revocable."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from flask import request
from sqlalchemy import or_, select, update

from core import clock
from core.errors import ApiError
from core.extensions import db
from core.logging import security_event
from core.security import has_service_token
from subscription_app.catalog import audit
from subscription_app.catalog.audit import Actor
from subscription_app.usage.models import ApiKey

HEADER = "X-Api-Key"
KEY_PREFIX = "usk_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _snapshot(key: ApiKey) -> dict:
    return {"id": key.id, "name": key.name, "prefix": key.prefix,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}


def create(name: str, actor: Actor) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is never stored and never shown again."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=uuid.uuid4(), name=name.strip(), prefix=plaintext[:12], key_hash=_digest(plaintext),
                 created_by=actor.user_id)
    db.session.add(key)
    db.session.flush()
    audit.record(actor, "api_key.created", "api_key", key.id, None, _snapshot(key))
    return key, plaintext


def list_keys() -> list[ApiKey]:
    return db.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())).all()


def revoke(key_id: uuid.UUID, actor: Actor) -> ApiKey:
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise ApiError(404, "API key not found")
    if key.revoked_at is None:
        before = _snapshot(key)
        key.revoked_at = clock.utcnow()
        db.session.flush()
        audit.record(actor, "api_key.revoked", "api_key", key.id, before, _snapshot(key))
    return key


def _touch(key_id: uuid.UUID, last_used_at) -> None:
    """Move last_used_at on at most once a minute: every batch writing it queued them all on one row lock."""
    now = clock.utcnow()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    db.session.execute(update(ApiKey).where(
        ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now))
    db.session.commit()


def authenticate() -> uuid.UUID | None:
    """The reporting caller: an unrevoked API key (its id) or the service token (None); else 401."""
    provided = request.headers.get(HEADER, "")
    if provided:
        found = db.session.execute(select(ApiKey.id, ApiKey.last_used_at).where(
            ApiKey.key_hash == _digest(provided), ApiKey.revoked_at.is_(None))).first()
        if found is not None:
            _touch(found.id, found.last_used_at)
            return found.id
        security_event("api_key_refused", f"API key refused on {request.path}", path=request.path)
        raise ApiError(401, "Invalid or revoked API key")
    if has_service_token():
        return None
    raise ApiError(401, f"An API key ({HEADER}) or the service token is required; user tokens are not accepted")
