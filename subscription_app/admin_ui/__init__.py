"""The operator's web UI under /admin: server-rendered pages over the same domain functions as the API.

A plain Flask blueprint (HTML pages are not API resources, so they stay out of the OpenAPI
spec); sessions are Flask's signed cookie, scoped to /admin, and every POST under /admin is
CSRF-checked by Flask-WTF. Nothing else reads that cookie, so the bearer-token API needs no token.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask, jsonify
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError

from core.errors import error_body
from core.money import format_money
from subscription_app.admin_ui import (customers, invoices, pages, plans, session,  # noqa: F401 - routes
                                       subscriptions, webhooks)
from subscription_app.admin_ui.views import bp, csrf


def _session_secret(jwt_secret: str) -> str:
    # Derived from the JWT secret (already required strong in production) so no new secret is needed.
    return hmac.new(jwt_secret.encode(), b"admin-ui session cookie", hashlib.sha256).hexdigest()


class AdminSessions(SecureCookieSessionInterface):
    """The cookie session exists under SESSION_COOKIE_PATH only: elsewhere no browser sends it, so the
    bearer-token API skips building a signer on every request."""

    def open_session(self, app, request):
        if not request.path.startswith(self.get_cookie_path(app)):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _configure(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    app.config["SECRET_KEY"] = app.config.get("SECRET_KEY") or _session_secret(settings.jwt_secret_key)
    app.config.update(SESSION_COOKIE_NAME="billing_admin", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.is_production,
                      SESSION_COOKIE_PATH="/admin", PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
                      WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_CHECK_DEFAULT=False)
    app.session_interface = AdminSessions()


def init_app(app: Flask) -> None:
    _configure(app)
    app.register_blueprint(bp)
    csrf.init_app(app)
    app.add_template_filter(format_money, "money")

    @app.errorhandler(CSRFError)
    def _csrf_refused(exc: CSRFError):
        response = jsonify(error_body(400, "CSRF check failed", {"form": {"csrf_token": [exc.description]}}))
        response.status_code = 400
        return response
