"""rq-dashboard for the billing queues, never without credentials.

`create_app()` builds rq-dashboard 0.9's Flask blueprint into an app of our own, with
HTTP basic auth in front of every URL (static files included), checked in constant time
against RQ_DASHBOARD_USERNAME / RQ_DASHBOARD_PASSWORD (development default admin /
dev-dashboard-password; production refuses the default, see core.settings). Served by
gunicorn as `wsgi:dashboard_app`; `python -m scripts.dashboard` starts that gunicorn,
bound to DASHBOARD_HOST (127.0.0.1 unless told otherwise) on DASHBOARD_PORT (9181).

rq-dashboard's own `--username` option mutates its module-level blueprint and compares
passwords with `!=`, so it is not used. The periodic jobs, which rq-dashboard cannot see,
are on /periodic (scripts/dashboard_periodic.py). Its job actions are POSTs made by its own page;
a POST whose Origin (or Referer) names another site is refused, so a page elsewhere
cannot use a browser's remembered credentials to delete or requeue jobs.
"""
from __future__ import annotations

import hmac
import os
import sys
from urllib.parse import urlsplit

from flask import Flask, Response, request
from rq import Queue

from core.logging import configure_logging, is_configured, security_event
from core.queues import QUEUE_NAMES
from core.settings import Settings, load_server_settings, load_settings
from scripts import dashboard_periodic

REALM = "billing rq-dashboard"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _credentials_ok(settings: Settings) -> bool:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    # Both compared, always, so the time taken says nothing about which one was wrong.
    user_ok = hmac.compare_digest((auth.username or "").encode(), settings.dashboard_username.encode())
    pass_ok = hmac.compare_digest((auth.password or "").encode(), settings.dashboard_password.encode())
    return user_ok and pass_ok


def _same_origin() -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return source is None  # no header: a non-browser client; "null": a sandboxed page, refused
    return urlsplit(source).netloc == request.host


def _register_project_queues(conn) -> None:
    """List our queues from the start: RQ adds a queue to its registry only on first enqueue."""
    conn.sadd(Queue.redis_queues_keys, *(Queue(name, connection=conn).key for name in QUEUE_NAMES))


def create_app(settings: Settings | None = None) -> Flask:
    # Imported here, not at the top: wsgi.py imports this module in every web process, and only the
    # dashboard's process should load rq-dashboard.
    import rq_dashboard
    from rq_dashboard.web import blueprint, setup_rq_connection

    settings = (settings or load_settings()).validate()
    if not settings.dashboard_username or not settings.dashboard_password:
        raise SystemExit("RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD must be set")
    if not is_configured():
        configure_logging(settings, "dashboard", process="dashboard")

    # Its templates ask for url_for("static"): the app's static folder must be rq-dashboard's.
    app = Flask("rq_dashboard_billing", static_folder=os.path.join(os.path.dirname(rq_dashboard.__file__), "static"))
    app.config["SETTINGS"] = settings
    app.config["SERVICE_NAME"] = "dashboard"
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    app.config["RQ_DASHBOARD_POLL_INTERVAL"] = 2500

    @app.get("/healthz")
    def _healthz():  # for the container healthcheck: says nothing but "up", so it needs no credentials
        return Response("ok\n", 200, mimetype="text/plain")

    @app.before_request
    def _require_credentials():
        if request.path == "/healthz":
            return None
        if not _credentials_ok(settings):
            if request.authorization is not None:
                security_event("dashboard_auth_failed", f"dashboard credentials refused on {request.path}",
                               path=request.path, remote_addr=request.remote_addr)
            return Response("Credentials required\n", 401, {"WWW-Authenticate": f'Basic realm="{REALM}"'},
                            mimetype="text/plain")
        if request.method not in SAFE_METHODS and not _same_origin():
            security_event("dashboard_cross_origin", f"cross-origin {request.method} refused on {request.path}",
                           path=request.path, origin=request.headers.get("Origin"))
            return Response("Cross-origin request refused\n", 403, mimetype="text/plain")
        try:  # every time: a Redis restart (or a test's FLUSHDB) forgets RQ's queue registry
            _register_project_queues(app.redis_conn)
        except Exception as exc:  # noqa: BLE001 - the page then shows rq-dashboard's own connection error
            app.logger.warning("could not register the queues: %s", exc.__class__.__name__)
        return None

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    app.register_blueprint(blueprint, url_prefix="")
    setup_rq_connection(app)
    dashboard_periodic.init_app(app)
    return app


def main() -> None:
    """Serve the dashboard with gunicorn (one worker: it is a tool for a few operators)."""
    load_settings().validate()  # fail here, with the variable's name, before gunicorn starts
    server = load_server_settings()
    host, port = server.dashboard_host, server.dashboard_port
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    args = [gunicorn, "-c", "gunicorn.conf.py", "--workers", "1", "--threads", "4",
            "--bind", f"{host}:{port}", "wsgi:dashboard_app"]
    os.execv(gunicorn, args)


if __name__ == "__main__":
    main()
