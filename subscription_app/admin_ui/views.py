"""The /admin blueprint and what every page shares: the signed-in admin, the actor, rendering."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from core.errors import ApiError
from core.extensions import db
from core.idempotency import idempotent
from subscription_app.catalog.audit import Actor
from subscription_app.models import SubscriptionIdempotencyKey, User

bp = Blueprint("admin_ui", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")
OPEN_ENDPOINTS = {"admin_ui.login", "admin_ui.static"}
SOURCE = "admin-ui"
csrf = CSRFProtect()


def signed_in_admin() -> User | None:
    """The session's user while still an active admin with the token version it signed in with."""
    user_id = session.get("admin_id")
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active or user.token_version != session.get("token_version"):
        return None
    return user


@bp.before_request
def _require_admin():
    csrf.protect()  # every POST here, sign-in and sign-out included; a bad token is a CSRFError (400)
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    user = signed_in_admin()
    if user is None:
        session.clear()
        return redirect(url_for("admin_ui.login", next=request.full_path.rstrip("?")))
    if not user.is_admin:
        abort(403)
    g.admin = user
    return None


def actor() -> Actor:
    return Actor(g.admin.id, SOURCE)


def page(template: str, http_status: int = 200, /, **context):
    """A rendered page; positional-only status, so a template variable may be called `status`."""
    return render_template(f"admin_ui/{template}", **context), http_status


def field_errors(exc: ApiError) -> dict[str, list[str]]:
    """A domain 422's field messages ({"json": {field: [...]}}) keyed by form field."""
    errors = (exc.errors or {}).get("json") or {}
    return {field.split(".")[0] if field.startswith("feature_limits") else field: messages
            for field, messages in errors.items()}


def attach_errors(form, exc: ApiError) -> None:
    """Show a refused domain action's messages beside the form fields they name."""
    db.session.rollback()
    for name, messages in field_errors(exc).items():
        field = getattr(form, "feature_limit" if name == "feature_limits" else name, None)
        if field is not None:
            field.errors = list(field.errors) + list(messages)
        else:
            form.form_errors.append(f"{name}: {'; '.join(messages)}")
    if not field_errors(exc):
        form.form_errors.append(exc.message)


def _form_key() -> str | None:
    """A money form's idempotency_key field (prefixed by its form), in its own namespace beside the API's keys."""
    key = next((v for k, v in request.form.items() if k.endswith("idempotency_key")), "")
    return f"admin-ui:{key}" if re.fullmatch(r"[0-9a-f]{32}", key) else None


# The admin API's Idempotency-Key store, keyed by the signed-in admin: a replay redirects as the first post did.
form_idempotent = idempotent(SubscriptionIdempotencyKey, key_of=_form_key, caller_of=lambda: g.admin.id)


def submitted(form, action, refused, done_url: str):
    """Run action(form) on a valid post and redirect with its message; else refused(form, status) re-renders.

    The view's caller (form_idempotent) commits the action, or rolls it back on a refusal.
    """
    if not form.validate_on_submit():
        return refused(form, 422)
    try:
        message = action(form)
    except ApiError as exc:
        attach_errors(form, exc)
        return refused(form, exc.code)
    flash(message)
    return redirect(done_url)
