"""Retention: periodic deletes that keep the outbox, inbox, gateway, integration event and webhook-attempt tables bounded.

Each rule deletes rows older than its window (a Settings attribute, in days) in batches of
`retention_batch_rows`, one short transaction per batch so no long lock is held, and stops at
`retention_budget_seconds`; what is left goes in the next run. docs/retention.md says why each
window keeps what audits and redeliveries need.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import delete, exists, select

from core import clock
from core.extensions import db
from jobs.context import service_context
from payment_app.models import MockGatewayRequest, PaymentInbox, PaymentOutbox
from subscription_app.integrations.models import IntegrationEvent, WebhookAttempt, WebhookDelivery
from subscription_app.models import SubscriptionInbox, SubscriptionOutbox
from subscription_app.refresh_tokens import RefreshToken


@dataclass(frozen=True)
class Rule:
    name: str
    service: str
    model: type
    window_setting: str  # days
    # (model, cutoff) -> WHERE clauses of the rows that may go
    where: Callable[[type, object], tuple]


def _delivered_before(model, cutoff):
    # Undelivered and dead rows stay: they are work still to do or an operator's to replay.
    return (model.delivered_at.isnot(None), model.delivered_at < cutoff)


def _received_before(model, cutoff):
    return (model.received_at < cutoff,)


def _answered_before(model, cutoff):
    # An unanswered request is evidence the payment sweep may still settle from: it stays.
    return (model.answered_at.isnot(None), model.created_at < cutoff)


def _attempted_before(model, cutoff):
    return (model.attempted_at < cutoff,)


def _settled_before(model, cutoff):
    # A delivery still pending is work to do: its event stays until it succeeds or dies.
    pending = exists().where(WebhookDelivery.event_id == model.id, WebhookDelivery.status == "pending")
    return (model.created_at < cutoff, ~pending)


def _expired_before(model, cutoff):
    # Past its exp claim a refresh token is refused anyway; its row served reuse detection until then.
    return (model.expires_at < cutoff,)


RULES: tuple[Rule, ...] = (
    Rule("sub_outbox_events", "subscription", SubscriptionOutbox, "outbox_retention_days", _delivered_before),
    Rule("pay_outbox_events", "payment", PaymentOutbox, "outbox_retention_days", _delivered_before),
    Rule("sub_inbox_events", "subscription", SubscriptionInbox, "inbox_retention_days", _received_before),
    Rule("pay_inbox_events", "payment", PaymentInbox, "inbox_retention_days", _received_before),
    Rule("mock_gateway_requests", "payment", MockGatewayRequest, "gateway_record_retention_days",
         _answered_before),
    Rule("webhook_attempts", "subscription", WebhookAttempt, "webhook_attempt_retention_days", _attempted_before),
    # Its deliveries and their attempts go with it (ON DELETE CASCADE, migration 0026_billrun).
    Rule("integration_events", "subscription", IntegrationEvent, "integration_event_retention_days", _settled_before),
    Rule("refresh_tokens", "subscription", RefreshToken, "refresh_token_retention_days", _expired_before),
)


def purge_rule(rule: Rule, deadline: float) -> int:
    """Delete this rule's expired rows batch by batch until none is left or the deadline passes."""
    settings = current_app.config["SETTINGS"]
    cutoff = clock.utcnow() - timedelta(days=getattr(settings, rule.window_setting))
    key = rule.model.__mapper__.primary_key[0]
    batch = settings.retention_batch_rows
    deleted = 0
    while True:
        doomed = select(key).where(*rule.where(rule.model, cutoff)).limit(batch).scalar_subquery()
        count = db.session.execute(delete(rule.model).where(key.in_(doomed))).rowcount
        db.session.commit()
        deleted += count
        if count < batch or time.monotonic() >= deadline:
            return deleted


def purge_expired_rows() -> dict:
    """Periodic: every rule within one time budget; answers the rows deleted per table.

    Each rule gets at least one batch per run, so a table with a large backlog never starves the others."""
    deadline = None
    done = {}
    for rule in RULES:
        with service_context(rule.service):
            if deadline is None:
                deadline = time.monotonic() + current_app.config["SETTINGS"].retention_budget_seconds
            done[rule.name] = purge_rule(rule, deadline)
    return done
