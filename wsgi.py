"""WSGI entry points: `gunicorn wsgi:subscription_app`, `wsgi:payment_app`, `wsgi:dashboard_app`.

`wsgi:app` is the service named by BILLING_SERVICE (subscription, payment or dashboard;
subscription when unset): the Procfile's one `web` line serves either service of a
Heroku-style deploy, one app per service. Each app is built on first access (PEP 562), by
the composition root (jobs/apps.py), so a process serving one service never builds the other.
"""
from __future__ import annotations

import os
from functools import lru_cache

from jobs import apps
from scripts import dashboard

SERVICES = {"subscription_app": "subscription", "payment_app": "payment"}
CHOICES = ("subscription", "payment", "dashboard")


@lru_cache(maxsize=None)
def _build(name: str):
    if name == "dashboard_app":
        return dashboard.create_app()
    return apps.create_app(SERVICES[name])


def __getattr__(name: str):
    if name in ("subscription_app", "payment_app", "dashboard_app"):
        return _build(name)
    if name == "app":  # the Procfile's, and the `flask` CLI's default
        return _build(f"{selected_service()}_app")
    raise AttributeError(name)


def selected_service() -> str:
    service = os.environ.get("BILLING_SERVICE", "").strip().lower() or "subscription"
    if service not in CHOICES:
        raise RuntimeError(f"BILLING_SERVICE={service!r}: must be one of {', '.join(CHOICES)}")
    return service
