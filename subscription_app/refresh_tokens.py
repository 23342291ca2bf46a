"""Refresh tokens recorded in PostgreSQL: rotation is one UPDATE, reuse revokes the family.

Every refresh token the service hands out has a row (jti, user, family). Rotating marks the
presented row used with `UPDATE ... WHERE used_at IS NULL AND revoked_at IS NULL RETURNING`,
so of any number of concurrent refreshes exactly one wins. Presenting a token that was already
used is refresh-token reuse (RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14): the whole family,
every token descended from that login, is revoked. Nothing here lives in Redis, so a Redis loss
cannot bring a rotated token back.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from core import tokens
from core.extensions import db
from core.logging import security_event
from subscription_app.models import User


class RefreshToken(db.Model):
    __tablename__ = "refresh_tokens"

    jti: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)
    expires_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))


def issue(user: User, family_id: uuid.UUID | None = None) -> dict:
    """A new token pair whose refresh token is recorded; commits (with whatever the caller staged)."""
    jti, family = uuid.uuid4(), family_id or uuid.uuid4()
    pair = tokens.issue_tokens(user, refresh_jti=str(jti), family_id=str(family))
    # The same instant flask-jwt-extended used for `exp`; informational, the JWT's exp is what is enforced.
    expires = datetime.now(timezone.utc) + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    db.session.add(RefreshToken(jti=jti, user_id=user.id, family_id=family, expires_at=expires))
    db.session.commit()
    return pair


def rotate(payload: dict) -> dict:
    """Exchange the presented refresh token (its decoded claims) for a new pair, once."""
    user = _lock_user(payload)
    jti = _as_uuid(payload.get("jti"))
    family = None if user is None or jti is None else db.session.scalar(
        update(RefreshToken)
        .where(RefreshToken.jti == jti, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=func.now()).returning(RefreshToken.family_id))
    if family is None:
        db.session.rollback()
        if user is not None and jti is not None:
            _revoke_family_of(jti)
        raise tokens.revoked_error()
    return issue(user, family)


def _lock_user(payload: dict) -> User | None:
    """The user, share-locked so a password change or deactivation waits for this rotation (or wins first).

    None when the user is gone, inactive or has a newer token version than the token carries.
    """
    try:
        user_id, version = int(payload["sub"]), int(payload.get("tv", 0))
    except (KeyError, TypeError, ValueError):
        return None
    user = db.session.scalar(select(User).where(User.id == user_id).with_for_update(read=True))
    if user is None or not user.is_active or user.token_version != version:
        return None
    return user


def _revoke_family_of(jti: uuid.UUID) -> None:
    revoked = revoke_family(jti)
    if revoked:
        security_event("refresh_token_reused", f"refresh token {jti} reused: {revoked} tokens of its family revoked",
                       jti=str(jti))


def revoke_family(jti) -> int:
    """Revoke every token of the family this refresh token belongs to (a logout); commits."""
    family = select(RefreshToken.family_id).where(RefreshToken.jti == _as_uuid(jti)).scalar_subquery()
    revoked = db.session.execute(update(RefreshToken)
                                 .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
                                 .values(revoked_at=func.now())).rowcount
    db.session.commit()
    return revoked


def revoke_all(user_id: int) -> None:
    """Stage revoking every live refresh token of a user (the caller commits)."""
    db.session.execute(update(RefreshToken)
                       .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
                       .values(revoked_at=func.now()))


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
