"""Integrator webhook jobs: deliver one (by id, safe to run twice) and the periodic sweep."""
from __future__ import annotations

from jobs.context import in_app
from subscription_app.integrations import delivery


@in_app("subscription")
def deliver_webhook(delivery_id: str) -> str:
    return delivery.deliver(delivery_id)


@in_app("subscription")
def sweep_webhooks() -> int:
    """Periodic: enqueue pending integrator deliveries that are due (after a crash or a Redis outage)."""
    return delivery.sweep()
