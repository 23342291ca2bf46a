"""User JWTs: issued by the subscription service, verified by both services.

Access and refresh tokens share the signing key but differ in their `type` claim, so
flask-jwt-extended refuses one where the other is expected. Each carries the audience
and a token version `tv`; a password change or a deactivation bumps the version, which
revokes every earlier token. The version lives in PostgreSQL (users.token_version); Redis
only caches it, and the cache only ever rises (docs/auth.md). Refresh-token rotation is
recorded in PostgreSQL by the subscription service (subscription_app/refresh_tokens.py);
revoked token ids in Redis (REVOKED_KEY) are for access tokens revoked one by one.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable, Optional

from flask import Flask, current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token

from core.errors import ApiError, error_body
from core.extensions import get_redis, jwt

REVOKED_KEY = "auth:revoked:{jti}"
VERSION_KEY = "auth:tv:{user_id}"
# The version of a user who is deactivated or gone: above any version a token can carry.
NO_USER = 2**31 - 1
# Only ever raise the cached version, so a reader holding an older PostgreSQL read cannot undo a bump.
RAISE_VERSION_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]))
local version = tonumber(ARGV[1])
if current and current >= version then return current end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return version
"""

# The durable source of a user's version: an int, NO_USER, or None when it cannot answer now.
TokenVersionLookup = Optional[Callable[[str], Optional[int]]]


def signing_config(settings) -> dict:
    """How tokens are signed and checked (the bench's JWT ceilings use the same)."""
    return {"JWT_SECRET_KEY": settings.jwt_secret_key, "JWT_ALGORITHM": settings.jwt_algorithm,
            "JWT_DECODE_ALGORITHMS": [settings.jwt_algorithm], "JWT_ENCODE_AUDIENCE": settings.jwt_audience,
            "JWT_DECODE_AUDIENCE": settings.jwt_audience, "JWT_TOKEN_LOCATION": ["headers"]}


def configure_jwt(app: Flask, version_lookup: TokenVersionLookup = None) -> None:
    settings = app.config["SETTINGS"]
    app.config.update(
        **signing_config(settings),
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.jwt_access_token_expire_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.jwt_refresh_token_expire_days),
        JWT_ERROR_MESSAGE_KEY="message",
    )
    app.extensions["token_version_lookup"] = version_lookup
    app.extensions["token_version_raise"] = app.extensions["redis"].register_script(RAISE_VERSION_SCRIPT)
    jwt.init_app(app)


def _unauthorized(message: str, code: int = 401):
    return error_body(code, message), code, {"WWW-Authenticate": "Bearer"}


@jwt.unauthorized_loader
def _missing(reason):
    return _unauthorized("Missing or malformed Authorization header")


@jwt.invalid_token_loader
def _invalid(reason):
    return _unauthorized("Invalid token")


@jwt.expired_token_loader
def _expired(header, payload):
    return _unauthorized("Token has expired")


@jwt.revoked_token_loader
def _revoked(header, payload):
    return _unauthorized("Token has been revoked")


@jwt.user_lookup_error_loader
def _user_missing(header, payload):
    return _unauthorized("User no longer exists")


@jwt.token_in_blocklist_loader
def _is_revoked(header, payload) -> bool:
    # One round trip for both facts (MGET), since every authenticated request pays for it.
    revoked, cached_version = get_redis().mget(REVOKED_KEY.format(jti=payload["jti"]),
                                               VERSION_KEY.format(user_id=payload["sub"]))
    if revoked is not None:
        return True
    current = int(cached_version) if cached_version is not None else _load_token_version(payload["sub"])
    return int(payload.get("tv", 0)) < current


def revoked_error() -> ApiError:
    return ApiError(401, "Token has been revoked", headers={"WWW-Authenticate": "Bearer"})


def current_token_version(user_id: str) -> int:
    cached = get_redis().get(VERSION_KEY.format(user_id=user_id))
    return int(cached) if cached is not None else _load_token_version(user_id)


def effective_version(token_version: int, is_active: bool) -> int:
    """What the check compares against: a deactivated user's tokens are all too old."""
    return token_version if is_active else NO_USER


def _load_token_version(user_id: str) -> int:
    """Read the version from its durable source and cache it; fail closed when it cannot answer."""
    lookup = current_app.extensions.get("token_version_lookup")
    version = lookup(user_id) if lookup is not None else None
    if version is None:
        raise ApiError(503, "Cannot verify the token right now, try again shortly", headers={"Retry-After": "5"})
    return cache_token_version(user_id, version)


def cache_token_version(user_id, version: int) -> int:
    """Raise the cached version to `version` (never lower it); returns the version now cached."""
    ttl = current_app.config["SETTINGS"].token_version_cache_seconds
    script = current_app.extensions["token_version_raise"]
    return int(script(keys=[VERSION_KEY.format(user_id=user_id)], args=[int(version), ttl], client=get_redis()))


def forget_token_version(user_id) -> None:
    """Drop the cache so the next check reads PostgreSQL: the one way down (reactivation)."""
    get_redis().delete(VERSION_KEY.format(user_id=user_id))


def revoke_token(payload: dict) -> None:
    """Put a token id on the revocation list until the token's own expiry."""
    ttl = max(int(payload.get("exp", time.time() + 60) - time.time()), 1)
    get_redis().set(REVOKED_KEY.format(jti=payload["jti"]), 1, ex=ttl)


def issue_tokens(user, refresh_jti: str | None = None, family_id: str | None = None) -> dict:
    """A new pair; the subscription service passes the refresh token's jti and family it records."""
    claims = {"tv": user.token_version, "role": user.role}
    identity = str(user.id)
    access = create_access_token(identity=identity, additional_claims=claims)
    refresh_claims = dict(claims)
    if refresh_jti:
        refresh_claims.update(jti=refresh_jti, fam=family_id)
    refresh = create_refresh_token(identity=identity, additional_claims=refresh_claims)
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": int(expires.total_seconds()),
    }


def decode(token: str) -> dict:
    return decode_token(token)
