"""The payment service's outbox (core/outbox.py): where its events go, and the job that delivers one."""
from __future__ import annotations

from flask import Flask, current_app

from core import outbox, outbox_batch
from payment_app.models import PaymentOutbox


def _subscription_url(path: str):
    return lambda: current_app.config["SETTINGS"].subscription_service_url + path


def deliver(event_id: str) -> str:
    """The job: POST one event to the subscription service (retries and backoff in core.outbox)."""
    return outbox.deliver(PaymentOutbox, event_id)


def drain(target: str) -> dict:
    """The job: POST the outcome events due (those of every answer since the last drain) in one call."""
    return outbox_batch.drain(PaymentOutbox, target)


def deliver_batch(event_ids: list[str]) -> dict:
    """The job an earlier release enqueued for the rows of one transaction, by id."""
    return outbox_batch.deliver_batch(PaymentOutbox, event_ids)


def init_app(app: Flask) -> None:
    outbox.init_app(app, outbox.OutboxConfig(
        service="payment", model=PaymentOutbox, deliver_job=deliver,
        targets={"subscription_webhook": _subscription_url("/v1/webhooks/payment")},
        batch_targets={"subscription_webhook": _subscription_url("/v1/webhooks/payment/batch")},
        drain_job=drain))
