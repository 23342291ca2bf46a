"""Run a job inside the app context of the service that owns its tables.

Workers are plain RQ workers listening on every queue; each job says which service it
belongs to with @in_app("payment") or @in_app("subscription"), and runs inside that
service's app context (built once per worker process, or the one a test registered).
"""
from __future__ import annotations

import functools
from typing import Callable

from flask import Flask, current_app, has_app_context

_apps: dict[str, Flask] = {}
SERVICES = {"subscription": "subscription-service", "payment": "payment-service"}


def register_app(app: Flask) -> None:
    """Use this app for its service's jobs (tests register theirs)."""
    for short, long_name in SERVICES.items():
        if app.config["SERVICE_NAME"] == long_name:
            _apps[short] = app


def get_app(service: str) -> Flask:
    if service not in _apps:
        if service == "subscription":
            from subscription_app import create_app
        else:
            from payment_app import create_app
        _apps[service] = create_app()
    return _apps[service]


def in_app(service: str) -> Callable:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if has_app_context() and current_app.config["SERVICE_NAME"] == SERVICES[service]:
                return fn(*args, **kwargs)
            app = get_app(service)
            with app.app_context():
                try:
                    return fn(*args, **kwargs)
                finally:
                    from core.extensions import db
                    db.session.remove()

        return wrapper

    return decorator
