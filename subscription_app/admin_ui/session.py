"""Sign in and out: the accounts service checks the password; only admins get a session."""
from __future__ import annotations

from flask import redirect, request, session, url_for

from core import ratelimit
from core.errors import ApiError
from core.ratelimit import limiter
from subscription_app import accounts
from subscription_app.admin_ui.forms import LoginForm
from subscription_app.admin_ui.views import bp, page


def _next_url() -> str:
    target = request.args.get("next", "")
    # Only a path of ours: an absolute or scheme-relative URL would be an open redirect.
    return target if target.startswith("/admin") and not target.startswith("//") else url_for("admin_ui.dashboard")


# The same shared limits as POST /v1/auth/login: its guesses and these count together.
@bp.route("/login", methods=["GET", "POST"])
@limiter.shared_limit(ratelimit.login_ip_limit, "login-ip", key_func=ratelimit.client_ip, methods=["POST"])
@limiter.shared_limit(ratelimit.login_account_limit, "login-account", key_func=ratelimit.account_key,
                      methods=["POST"])
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return page("login.html", 422 if form.is_submitted() else 200, form=form)
    try:
        user = accounts.authenticate(form.email.data, form.password.data)
    except ApiError as exc:
        form.form_errors.append(exc.message)
        return page("login.html", exc.code, form=form)
    if not user.is_admin:
        form.form_errors.append("Admin role required")
        return page("login.html", 403, form=form)
    session.clear()  # a fresh session, never one planted before sign-in
    session.permanent = True
    session.update(admin_id=user.id, token_version=user.token_version)
    return redirect(_next_url())


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()  # CSRFProtect checked the token: a forged logout is refused too
    return redirect(url_for("admin_ui.login"))
