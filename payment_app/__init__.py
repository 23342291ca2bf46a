"""The payment service: payments, refunds, gateway webhooks, the mock gateway."""
from __future__ import annotations

from flask import Flask

from core.app import build_app
from core.settings import Settings


def create_app(settings: Settings | None = None, config: dict | None = None) -> Flask:
    from payment_app import identity, models  # noqa: F401 - tables belong to this service
    from payment_app.blueprints import internal, payments, webhooks

    return build_app(
        __name__,
        service_name="payment-service",
        title="Billing: payment service",
        blueprints=[payments.blp, internal.blp, webhooks.blp],
        settings=settings,
        version_lookup=identity.token_version_of,
        config=config,
    )
