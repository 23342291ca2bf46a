"""The composition root's apps: it builds both services and knows which one owns a job.

A job is a function of the service it belongs to (`payment_app.payments.submit_to_gateway`); the
worker runs it inside that service's app context (jobs/worker.py), built once per worker process
or the one a test registered. Jobs of this package span both services and push their own
contexts with @in_app.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable

from flask import Flask, current_app, has_app_context

import payment_app
import subscription_app
from core.extensions import db

_apps: dict[str, Flask] = {}
SERVICES = {"subscription": "subscription-service", "payment": "payment-service"}
FACTORIES = {"subscription": subscription_app.create_app, "payment": payment_app.create_app}
_PACKAGES = {"subscription_app": "subscription", "payment_app": "payment"}


def register_app(app: Flask) -> None:
    """Use this app for its service's jobs (tests register theirs)."""
    for short, long_name in SERVICES.items():
        if app.config["SERVICE_NAME"] == long_name:
            _apps[short] = app


def get_app(service: str) -> Flask:
    if service not in _apps:
        _apps[service] = FACTORIES[service]()
    return _apps[service]


def service_of(func_name: str) -> str | None:
    """The service whose package holds this dotted function name, None for this package's own jobs."""
    return _PACKAGES.get(func_name.partition(".")[0])


@contextlib.contextmanager
def service_context(service: str | None):
    """That service's app context for the block (a no-op for None or when it is already current)."""
    if service is None or (has_app_context() and current_app.config["SERVICE_NAME"] == SERVICES[service]):
        yield
        return
    with get_app(service).app_context():
        try:
            yield
        finally:
            db.session.remove()


def in_app(service: str) -> Callable:
    """For a job of this package that works on one service's tables: run it in that service's context."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with service_context(service):
                return fn(*args, **kwargs)

        return wrapper

    return decorator
