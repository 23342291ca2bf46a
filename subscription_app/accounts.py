"""Account service layer: registration, login, password change, token refresh, logout, deactivation."""
from __future__ import annotations

from flask import current_app
from flask_jwt_extended import get_jwt, get_jwt_identity
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import tokens
from core.errors import ApiError
from core.extensions import db
from core.logging import security_event
from core.security import check_password, hash_password
from subscription_app import integrations
from subscription_app import refresh_tokens as refresh_store
from subscription_app.discounts import balance
from subscription_app.models import User

# Compared against when the email is unknown, so both failures cost one bcrypt check.
_DUMMY_HASH: dict[int, str] = {}


def _rounds() -> int:
    return current_app.config["SETTINGS"].bcrypt_rounds


def _dummy_hash() -> str:
    rounds = _rounds()
    if rounds not in _DUMMY_HASH:
        _DUMMY_HASH[rounds] = hash_password("not-a-real-password", rounds)
    return _DUMMY_HASH[rounds]


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def register(email: str, password: str, first_name: str | None = None, last_name: str | None = None,
             role: str = "user") -> User:
    user = User(email=email.strip().lower(), password_hash=hash_password(password, _rounds()),
                first_name=first_name, last_name=last_name, role=role)
    db.session.add(user)
    try:
        db.session.flush()
        integrations.emit("customer.created", "customer", user.id, integrations.dump(user))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "An account with this email already exists") from None
    return user


def authenticate(email: str, password: str) -> User:
    user = find_by_email(email)
    if user is None:
        check_password(password, _dummy_hash())
    elif user.is_active and check_password(password, user.password_hash):
        return user
    email_key = email.strip().lower()[:254]
    security_event("login_failed", f"failed login for {email_key}", email=email_key)
    raise ApiError(401, "Invalid email or password")


def current_user_id() -> int:
    return int(get_jwt_identity())


def current_user() -> User:
    user = db.session.get(User, current_user_id())
    if user is None or not user.is_active:
        raise ApiError(401, "User no longer exists")
    return user


def me() -> User:
    """The current user with `balance` set: credit per currency (discounts/balance.py)."""
    user = current_user()
    user.balance = balance.balances(user.id)
    return user


def require_admin() -> User:
    user = current_user()
    if not user.is_admin:
        security_event("admin_refused", f"admin action refused for user {user.id}", user_id=str(user.id))
        raise ApiError(403, "Admin role required")
    return user


def issue_tokens(user: User) -> dict:
    """A new token pair, the start of a new refresh-token family (login, registration)."""
    return refresh_store.issue(user)


def change_password(user: User, current_password: str, new_password: str) -> dict:
    if not check_password(current_password, user.password_hash):
        raise ApiError(400, "Current password is incorrect", errors={"json": {"current_password": ["Incorrect."]}})
    user.password_hash = hash_password(new_password, _rounds())
    revoke_every_token(user)
    db.session.commit()
    tokens.cache_token_version(user.id, user.token_version)
    return refresh_store.issue(user)


def revoke_every_token(user: User) -> None:
    """Stage the version bump that makes every earlier token too old, on both services (caller commits)."""
    user.token_version += 1
    refresh_store.revoke_all(user.id)


def refresh_tokens() -> dict:
    """Rotate: the presented refresh token is used up and a new pair of the same family issued."""
    return refresh_store.rotate(get_jwt())


def logout(user: User, refresh_token: str | None, all_sessions: bool) -> None:
    """Revoke durably first (PostgreSQL), then the access token in Redis: a failure there is a 503 to retry."""
    if all_sessions:
        revoke_every_token(user)
        db.session.commit()
        tokens.cache_token_version(user.id, user.token_version)
        return
    if refresh_token is not None:
        refresh_store.revoke_family(_own_refresh_jti(user, refresh_token))
    tokens.revoke_token(get_jwt())


def _own_refresh_jti(user: User, token: str):
    """The jti of a refresh token of this user, or 422 naming the field (nothing said about whose it is)."""
    try:
        payload = tokens.decode(token)
    except (PyJWTError, JWTExtendedException):
        payload = None
    if not payload or payload.get("type") != "refresh" or payload.get("sub") != str(user.id):
        raise ApiError(422, "Invalid refresh token",
                       errors={"json": {"refresh_token": ["Not a refresh token of this user."]}})
    return payload["jti"]


def deactivate(user: User) -> None:
    """Refuse the user everywhere: login, and every token already issued (the version check)."""
    user.is_active = False
    revoke_every_token(user)
    db.session.commit()
    tokens.cache_token_version(user.id, tokens.NO_USER)
    security_event("user_deactivated", f"user {user.id} deactivated", user_id=str(user.id))


def demote(user: User) -> None:
    """Take the admin role away; the role is a claim of every token, so every earlier token is revoked."""
    user.role = "user"
    revoke_every_token(user)
    db.session.commit()
    tokens.cache_token_version(user.id, user.token_version)
    security_event("admin_demoted", f"user {user.id} demoted to user", user_id=str(user.id))


def reactivate(user: User) -> None:
    """Allow logins again; tokens from before the deactivation stay revoked (their version is older)."""
    user.is_active = True
    db.session.commit()
    tokens.forget_token_version(user.id)


def token_version_of(user_id: str) -> int:
    """The durable token version check's source: tokens.NO_USER for a user inactive or gone."""
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return tokens.NO_USER
    row = db.session.execute(select(User.token_version, User.is_active).where(User.id == uid)).first()
    return tokens.NO_USER if row is None else tokens.effective_version(row.token_version, row.is_active)
