"""Outgoing webhooks for integrators (issue #18): events, endpoints, signed deliveries, replay.

See docs/webhooks.md. The internal service-to-service webhooks are core/outbox.py's.
"""
from subscription_app.integrations.events import emit
from subscription_app.integrations.payloads import dump

__all__ = ["emit", "dump"]
