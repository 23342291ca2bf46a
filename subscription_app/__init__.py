"""The subscription service: auth, plans, subscriptions, invoices, usage, webhooks."""
from __future__ import annotations

from flask import Flask

from core.app import build_app
from core.settings import Settings


def create_app(settings: Settings | None = None, config: dict | None = None) -> Flask:
    from subscription_app import accounts
    from subscription_app.blueprints import (admin, admin_users, admin_webhooks, auth, credit_notes, internal, invoices, plans,
                                            subscriptions, usage, webhooks)

    app = build_app(
        __name__,
        service_name="subscription-service",
        title="Billing: subscription service",
        blueprints=[auth.blp, plans.blp, internal.blp, subscriptions.blp, invoices.blp, credit_notes.blp, webhooks.blp,
                    usage.blp, admin.blp, admin_users.blp, admin_webhooks.blp],
        settings=settings,
        version_lookup=accounts.token_version_of,
        config=config,
    )
    from subscription_app import cli
    from subscription_app.integrations import cli as integrations_cli
    from subscription_app.integrations import payloads
    from subscription_app import usage as usage_metering
    cli.register(app)
    integrations_cli.register(app)
    payloads.register_components(app.extensions["billing_api"].spec)
    usage_metering.init_app(app)
    return app
