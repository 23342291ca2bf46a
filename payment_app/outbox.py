"""The payment service's outbox (core/outbox.py): where its events go, and the job that delivers one."""
from __future__ import annotations

from flask import Flask, current_app

from core import outbox
from payment_app.models import PaymentOutbox


def _subscription_webhook_url() -> str:
    return current_app.config["SETTINGS"].subscription_service_url + "/v1/webhooks/payment"


def deliver(event_id: str) -> str:
    """The job: POST one event to the subscription service (retries and backoff in core.outbox)."""
    return outbox.deliver(PaymentOutbox, event_id)


def init_app(app: Flask) -> None:
    outbox.init_app(app, outbox.OutboxConfig(
        service="payment", model=PaymentOutbox, deliver_job=deliver,
        targets={"subscription_webhook": _subscription_webhook_url}))
