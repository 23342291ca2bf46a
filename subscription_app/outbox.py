"""The subscription service's outbox (core/outbox.py): where its events go, and the job that delivers one."""
from __future__ import annotations

from flask import Flask, current_app

from core import outbox
from subscription_app.models import SubscriptionOutbox


def _payment_url(path: str):
    return lambda: current_app.config["SETTINGS"].payment_service_url + path


def deliver(event_id: str) -> str:
    """The job: POST one event to the payment service (retries and backoff in core.outbox)."""
    return outbox.deliver(SubscriptionOutbox, event_id)


def deliver_batch(event_ids: list[str]) -> dict:
    """The job: POST the charge requests of one transaction (a bill-run batch) in one call."""
    return outbox.deliver_batch(SubscriptionOutbox, event_ids)


def init_app(app: Flask) -> None:
    outbox.init_app(app, outbox.OutboxConfig(
        service="subscription", model=SubscriptionOutbox, deliver_job=deliver,
        targets={"payment_charges": _payment_url("/v1/payments/internal/charges"),
                 "payment_refunds": _payment_url("/v1/payments/internal/refunds")},
        batch_targets={"payment_charges": _payment_url("/v1/payments/internal/charges/batch")},
        deliver_batch_job=deliver_batch))
