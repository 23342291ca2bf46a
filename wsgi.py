"""WSGI entry points: `gunicorn wsgi:subscription_app`, `wsgi:payment_app`, `wsgi:dashboard_app`.

Each app is built on first access (PEP 562), by the composition root (jobs/apps.py), so a process
serving one service never builds the other.
"""
from __future__ import annotations

from functools import lru_cache

from jobs import apps
from scripts import dashboard

SERVICES = {"subscription_app": "subscription", "payment_app": "payment"}


@lru_cache(maxsize=None)
def _build(name: str):
    if name == "dashboard_app":
        return dashboard.create_app()
    return apps.create_app(SERVICES[name])


def __getattr__(name: str):
    if name in ("subscription_app", "payment_app", "dashboard_app"):
        return _build(name)
    if name == "app":  # `flask` CLI default
        return _build("subscription_app")
    raise AttributeError(name)
