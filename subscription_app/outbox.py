"""The subscription service's outbox (core/outbox.py): where its events go, and the job that delivers one."""
from __future__ import annotations

from flask import Flask, current_app

from core import outbox, outbox_batch
from subscription_app.models import SubscriptionOutbox


def _payment_url(path: str):
    return lambda: current_app.config["SETTINGS"].payment_service_url + path


def deliver(event_id: str) -> str:
    """The job: POST one event to the payment service (retries and backoff in core.outbox)."""
    return outbox.deliver(SubscriptionOutbox, event_id)


def drain(target: str) -> dict:
    """The job: POST the charge requests due (those of every request since the last drain) in one call."""
    return outbox_batch.drain(SubscriptionOutbox, target)


def deliver_batch(event_ids: list[str]) -> dict:
    """The job an earlier release enqueued for the rows of one transaction, by id."""
    return outbox_batch.deliver_batch(SubscriptionOutbox, event_ids)


def init_app(app: Flask) -> None:
    outbox.init_app(app, outbox.OutboxConfig(
        service="subscription", model=SubscriptionOutbox, deliver_job=deliver,
        targets={"payment_charges": _payment_url("/v1/payments/internal/charges"),
                 "payment_refunds": _payment_url("/v1/payments/internal/refunds")},
        batch_targets={"payment_charges": _payment_url("/v1/payments/internal/charges/batch")},
        drain_job=drain))
