"""The subscription service: auth, plans, subscriptions, invoices, usage, webhooks."""
from __future__ import annotations

from flask import Flask

from core.app import build_app
from core.settings import Settings
from subscription_app import accounts, admin_ui, cli, outbox, usage
from subscription_app.blueprints import BLUEPRINTS
from subscription_app import integrations


def create_app(settings: Settings | None = None, config: dict | None = None) -> Flask:
    app = build_app(
        __name__,
        service_name="subscription-service",
        title="Billing: subscription service",
        blueprints=BLUEPRINTS,
        settings=settings,
        version_lookup=accounts.token_version_of,
        config=config,
        cluster_metrics=("queues", "webhooks", "usage_sync"),  # the Redis-held metrics whose events this service owns (docs/metrics.md)
    )
    outbox.init_app(app)
    cli.register(app)
    integrations.init_app(app)
    usage.init_app(app)
    admin_ui.init_app(app)
    return app
