"""The payment service: payments, refunds, gateway webhooks, the mock gateway."""
from __future__ import annotations

from flask import Flask

from core.app import build_app
from core.settings import Settings
from payment_app import identity, outbox
from payment_app.blueprints import BLUEPRINTS


def create_app(settings: Settings | None = None, config: dict | None = None) -> Flask:
    app = build_app(
        __name__,
        service_name="payment-service",
        title="Billing: payment service",
        blueprints=BLUEPRINTS,
        settings=settings,
        version_lookup=identity.token_version_of,
        config=config,
        cluster_metrics=("payments", "webhooks"),  # the Redis-held metrics whose events this service owns (docs/metrics.md)
    )
    outbox.init_app(app)
    return app
