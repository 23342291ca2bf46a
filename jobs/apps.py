"""The apps every process runs: a service's own create_app(), plus what the composition root adds.

wsgi.py (gunicorn, the Procfile's `flask --app wsgi:...` commands) and the tests build apps here:
each gets the worker layer's CLI (jobs/cli.py) and the periodic jobs' status in /v1/health/queues,
and becomes the app its service's jobs run in.
"""
from __future__ import annotations

from flask import Flask

from core import health
from core.settings import Settings
from jobs import cli, schedule
from jobs.context import FACTORIES, register_app


def create_app(service: str, settings: Settings | None = None, config: dict | None = None) -> Flask:
    app = FACTORIES[service](settings, config)
    health.init_periodic_status(app, schedule.periodic_status)
    cli.init_app(app)
    register_app(app)
    return app
