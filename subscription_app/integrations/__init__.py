"""Outgoing webhooks for integrators (issue #18): events, endpoints, signed deliveries, replay.

See docs/webhooks.md. The internal service-to-service webhooks are core/outbox.py's.
"""
from flask import Flask

from subscription_app.integrations import cli, payloads
from subscription_app.integrations.events import emit
from subscription_app.integrations.payloads import dump

__all__ = ["emit", "dump", "init_app"]


def init_app(app: Flask) -> None:
    """The `flask webhooks endpoints|events` commands, and the payloads in the OpenAPI components."""
    cli.register(app)
    payloads.register_components(app.extensions["billing_api"].spec)
