"""WSGI entry points: `gunicorn wsgi:subscription_app`, `wsgi:payment_app`, `wsgi:dashboard_app`.

Each app is built on first access (PEP 562), so a process serving one service never
builds the other.
"""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def _build(name: str):
    if name == "subscription_app":
        from subscription_app import create_app
    elif name == "dashboard_app":
        from scripts.dashboard import create_app
    else:
        from payment_app import create_app
    return create_app()


def __getattr__(name: str):
    if name in ("subscription_app", "payment_app", "dashboard_app"):
        return _build(name)
    if name == "app":  # `flask` CLI default
        return _build("subscription_app")
    raise AttributeError(name)
