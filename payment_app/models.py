"""Tables owned by the payment service."""
from __future__ import annotations

from core.extensions import db
from core.idempotency import IdempotencyKeyMixin
from core.inbox import InboxMixin
from core.outbox import OutboxMixin


class PaymentOutbox(OutboxMixin, db.Model):
    """Events this service sends (payment and refund outcomes to the subscription service)."""
    __tablename__ = "pay_outbox_events"


class PaymentInbox(InboxMixin, db.Model):
    """Ids of events this service has applied (gateway webhooks, charge requests)."""
    __tablename__ = "pay_inbox_events"


class PaymentIdempotencyKey(IdempotencyKeyMixin, db.Model):
    __tablename__ = "pay_idempotency_keys"
