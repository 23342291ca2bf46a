"""Rate limits (flask-limiter on the app's Redis): login per account and per client IP.

If Redis is down the limiter falls back to per-process in-memory counters, so an outage
neither opens the door to brute force nor takes login down. A breach answers 429 in the
project's error shape, with Retry-After. flask-limiter is used through its documented API only
(decorators, init_app, RATELIMIT_* config), so a default or blueprint limit added later just works.
"""
from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter


def client_ip() -> str:
    return request.remote_addr or "unknown"


def account_key() -> str:
    """The account a login names: the JSON body's email (the API) or the form's (the /admin page)."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else request.form.get("email")
    return "account:" + (email.strip().lower()[:254] if isinstance(email, str) else "-")


limiter = Limiter(key_func=client_ip, headers_enabled=True, in_memory_fallback_enabled=True,
                  strategy="fixed-window", key_prefix="ratelimit")


def login_account_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit_per_account


def login_ip_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit_per_ip


def init_app(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 2})
    limiter.init_app(app)
