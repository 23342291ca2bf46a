"""Idempotency-Key for POSTs that move money or create subscriptions.

    @blp.route("", methods=["POST"])
    @jwt_required()
    @idempotent(SubscriptionIdempotencyKey)
    @blp.arguments(...)
    @blp.response(...)
    def create(...): ...

Same key + same request -> the stored response is replayed (header Idempotent-Replayed).
Same key + another request -> 422. Same key while the first is still running -> 409.
The key is claimed in its own committed transaction before the view runs, so a
concurrent duplicate sees it. The decorator commits the view's work, and a successful
response (< 400) is stored in that same commit: a crash keeps both or neither, so a
retry replays or runs once (a view that commits by itself loses that, see
docs/guarantees.md). A failed attempt releases the key so the client can retry. A claim
left `in_progress` longer than IDEMPOTENCY_STALE_AFTER_SECONDS belongs to a dead request
and is taken over; the run it was taken from can no longer complete. Keys are kept at
least IDEMPOTENCY_KEY_TTL_HOURS (24 h) and purged after.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from flask import current_app, make_response, redirect, request
from flask_jwt_extended import get_jwt_identity
from sqlalchemy import UniqueConstraint, delete, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from core.errors import ApiError
from core.extensions import db

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEY_RULE = f"1 to {MAX_KEY_LENGTH} printable ASCII characters."
DEFAULT_TTL_HOURS = 24


class IdempotencyKeyMixin:
    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    key: Mapped[str] = mapped_column(db.String(MAX_KEY_LENGTH), nullable=False)
    method: Mapped[str] = mapped_column(db.String(8), nullable=False)
    path: Mapped[str] = mapped_column(db.String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(db.String(64), nullable=False)
    status: Mapped[str] = mapped_column(db.String(16), nullable=False)  # in_progress | completed
    response_code: Mapped[int | None] = mapped_column(db.Integer)
    response_body: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False, index=True)
    locked_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                nullable=False)

    @declared_attr.directive
    def __table_args__(cls):
        return (UniqueConstraint("user_id", "key", name=f"uq_{cls.__tablename__}_user_key"),)


SERVICE_CALLER = 0  # keys of a caller with the service token instead of a user token


def _request_hash() -> str:
    # Keyed (HMAC), not a bare SHA-256: a /process body holds a card number and CVC, and a plain
    # hash of it stored in the database could be brute-forced from the BIN and last4.
    key = ("idempotency:" + current_app.config["SETTINGS"].service_to_service_secret).encode()
    digest = hmac.new(key, digestmod=hashlib.sha256)
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _claim(model, user_id: int, key: str, req_hash: str):
    """Insert the claim; returns (claimed_at, None) when claimed, else (None, the existing row)."""
    stmt = (insert(model).values(user_id=user_id, key=key, method=request.method, path=request.path[:255],
                                 request_hash=req_hash, status="in_progress")
            .on_conflict_do_nothing(constraint=f"uq_{model.__tablename__}_user_key").returning(model.locked_at))
    claimed_at = db.session.execute(stmt).scalar()
    db.session.commit()
    if claimed_at is not None:
        return claimed_at, None
    return None, db.session.scalar(select(model).where(model.user_id == user_id, model.key == key))


def _take_over_stale(model, row):
    """The claim's new locked_at if it was stale (by the database's clock) and is now ours, else None."""
    stale = timedelta(seconds=current_app.config["SETTINGS"].idempotency_stale_after_seconds)
    claimed_at = db.session.execute(
        update(model).where(model.id == row.id, model.status == "in_progress", model.locked_at == row.locked_at,
                            model.locked_at < func.now() - stale)
        .values(locked_at=func.now()).returning(model.locked_at)).scalar()
    db.session.commit()
    return claimed_at


def _replay(existing, req_hash: str):
    if existing.request_hash != req_hash:
        raise ApiError(422, f"{HEADER} was already used with a different request")
    if existing.status == "completed":
        if 300 <= existing.response_code < 400:  # a form post's redirect (the admin UI), stored as its target
            response = redirect(existing.response_body["location"], existing.response_code)
        else:
            response = make_response(existing.response_body, existing.response_code)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    return None


def _in_progress() -> ApiError:
    return ApiError(409, f"A request with this {HEADER} is still in progress", headers={"Retry-After": "1"})


def request_key() -> str | None:
    """The request's Idempotency-Key, None without one; the one check every route uses."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        # A header, not a body field: 400, like any other malformed request line or header.
        raise ApiError(400, f"Invalid {HEADER} header", errors={"headers": {HEADER: [KEY_RULE]}})
    return key


def openapi_parameter(description: str) -> dict:
    """The header as both services' OpenAPI documents describe it."""
    return {"in": "header", "name": HEADER, "required": False, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"}}


def token_caller() -> int:
    """Whose keys these are: the bearer token's user, or SERVICE_CALLER for the service token."""
    identity = get_jwt_identity()
    return SERVICE_CALLER if identity is None else int(identity)


def idempotent(model, key_of=request_key, caller_of=token_caller):
    """The decorator above; key_of and caller_of read the key and its owner elsewhere (a form field, a session)."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = key_of()
            if key is None:
                response = view(*args, **kwargs)
                db.session.commit()
                return response
            user_id = caller_of()
            req_hash = _request_hash()
            claimed_at, existing = _claim(model, user_id, key, req_hash)
            if existing is not None:
                replayed = _replay(existing, req_hash)
                if replayed is not None:
                    return replayed
                claimed_at = _take_over_stale(model, existing)
                if claimed_at is None:
                    raise _in_progress()
            claim = (model, user_id, key, claimed_at)
            try:
                response = make_response(view(*args, **kwargs))
                if response.status_code >= 400:
                    raise _Refused(response)
                _complete(claim, response)
                db.session.commit()  # the view's work and its stored answer, together
            except _Refused as refused:
                db.session.rollback()
                _release(claim)
                return refused.response
            except BaseException:
                db.session.rollback()
                _release(claim)
                raise
            return response

        return wrapper

    return decorator


class _Refused(Exception):
    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


def _complete(claim, response) -> None:
    """Store the answer in the view's transaction; 409 if another run took the claim over meanwhile."""
    model, user_id, key, claimed_at = claim
    done = db.session.execute(update(model).where(
        model.user_id == user_id, model.key == key, model.status == "in_progress", model.locked_at == claimed_at)
        .values(status="completed", response_code=response.status_code, response_body=_stored_body(response)))
    if done.rowcount != 1:
        raise _in_progress()


def _stored_body(response):
    if 300 <= response.status_code < 400:
        return {"location": response.headers["Location"]}
    return response.get_json()


def _release(claim) -> None:
    """Give the key back, unless another run holds it now (or the answer was stored after all)."""
    model, user_id, key, claimed_at = claim
    db.session.execute(delete(model).where(model.user_id == user_id, model.key == key,
                                           model.status == "in_progress", model.locked_at == claimed_at))
    db.session.commit()


def purge_expired(model) -> int:
    hours = int(current_app.config.get("IDEMPOTENCY_KEY_TTL_HOURS", DEFAULT_TTL_HOURS))
    result = db.session.execute(delete(model).where(model.created_at < _now() - timedelta(hours=hours)))
    db.session.commit()
    return result.rowcount
