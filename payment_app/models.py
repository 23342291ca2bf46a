"""Tables owned by the payment service."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

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


# --- payments -----------------------------------------------------------------------------------
# user_id is the subscription service's user id; the services share no tables, so no foreign key.

TRANSACTION_STATUSES = ("pending", "succeeded", "failed", "refunded", "partially_refunded", "voided")
FINAL_STATUSES = ("failed", "refunded", "voided")
REFUNDABLE_STATUSES = ("succeeded", "partially_refunded")
INVOICE_HOLDING_STATUSES = ("pending", "succeeded", "partially_refunded")
REFUND_STATUSES = ("pending", "succeeded", "failed")
SUBSCRIPTION_EFFECTS = ("canceled", "kept", "none")


def _now_column():
    return mapped_column(db.DateTime(timezone=True), server_default=func.now(), nullable=False)


class PaymentMethod(db.Model):
    """A tokenised card: brand, last4 and expiry for display, the gateway's token to charge it."""
    __tablename__ = "payment_methods"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(db.BigInteger, nullable=False, index=True)
    brand: Mapped[str] = mapped_column(db.String(16), nullable=False)
    last4: Mapped[str] = mapped_column(db.String(4), nullable=False)
    exp_month: Mapped[int] = mapped_column(db.SmallInteger, nullable=False)
    exp_year: Mapped[int] = mapped_column(db.SmallInteger, nullable=False)
    gateway_token: Mapped[str] = mapped_column(db.String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _now_column()


class Transaction(db.Model):
    """One charge (or zero-amount verification) and its refund total."""
    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_transactions_user_idempotency_key"),
        CheckConstraint("amount_cents >= 0", name="amount_non_negative"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refunded_within_amount"),
        CheckConstraint(f"status IN {TRANSACTION_STATUSES}", name="status_known"),
        CheckConstraint("kind IN ('charge', 'verify')", name="kind_known"),
        # Backs the keyset order of GET /v1/payments/transactions (core/pagination.py).
        Index("ix_transactions_user_created_id", "user_id", "created_at", "id"),
        # One live charge per invoice, in flight or paid (refunded ones: see docs/guarantees.md).
        Index("uq_transactions_one_live_charge_per_invoice", "invoice_id", unique=True,
              postgresql_where=text(f"invoice_id IS NOT NULL AND status IN {INVOICE_HOLDING_STATUSES}")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(db.String(16), nullable=False, default="charge")
    status: Mapped[str] = mapped_column(db.String(24), nullable=False, default="pending")
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    refunded_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False, default=0, server_default="0")
    description: Mapped[str | None] = mapped_column(db.String(255))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True),
                                                                db.ForeignKey("payment_methods.id"))
    card_brand: Mapped[str | None] = mapped_column(db.String(16))
    card_last4: Mapped[str | None] = mapped_column(db.String(4))
    # Ours for caller-supplied dedupe (charge.requested's idempotency_key); unique per user.
    idempotency_key: Mapped[str | None] = mapped_column(db.String(255))
    gateway_reference: Mapped[str | None] = mapped_column(db.String(64))
    failure_reason: Mapped[str | None] = mapped_column(db.String(255))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now(), nullable=False)

    payment_method = relationship(PaymentMethod)
    refunds = relationship("Refund", back_populates="transaction", order_by="Refund.created_at")


class Refund(db.Model):
    __tablename__ = "refunds"
    __table_args__ = (
        # A service's requested refund (POST /internal/refunds) happens once however often it is delivered.
        UniqueConstraint("transaction_id", "request_id", name="uq_refunds_transaction_request_id"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(f"status IN {REFUND_STATUSES}", name="status_known"),
        CheckConstraint(f"subscription_effect IN {SUBSCRIPTION_EFFECTS}", name="subscription_effect_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("transactions.id"),
                                                      nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    status: Mapped[str] = mapped_column(db.String(16), nullable=False, default="pending")
    reason: Mapped[str | None] = mapped_column(db.String(255))
    request_id: Mapped[str | None] = mapped_column(db.String(255))
    # What the refund asks of the invoice's subscription (docs/refunds.md); the subscription service applies it.
    keep_subscription: Mapped[bool] = mapped_column(db.Boolean, nullable=False, default=False,
                                                    server_default=text("false"))
    subscription_effect: Mapped[str] = mapped_column(db.String(16), nullable=False, default="none",
                                                     server_default="none")
    requested_by: Mapped[str | None] = mapped_column(db.String(64))  # "user:7", "admin:1" or "service"
    gateway_reference: Mapped[str | None] = mapped_column(db.String(64))
    failure_reason: Mapped[str | None] = mapped_column(db.String(255))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now(), nullable=False)

    transaction = relationship(Transaction, back_populates="refunds")


# --- the mock gateway's own ledger (stands for the outside world) ----------------------------------

class MockGatewayToken(db.Model):
    """What the gateway remembers of a tokenised card. Not the number: whether it is the success card."""
    __tablename__ = "mock_gateway_tokens"

    token: Mapped[str] = mapped_column(db.String(64), primary_key=True)
    brand: Mapped[str] = mapped_column(db.String(16), nullable=False)
    last4: Mapped[str] = mapped_column(db.String(4), nullable=False)
    approvable: Mapped[bool] = mapped_column(db.Boolean, nullable=False)
    created_at: Mapped[datetime] = _now_column()


class MockGatewayRequest(db.Model):
    """Every charge/authorise/void/refund the gateway received; one per idempotency key."""
    __tablename__ = "mock_gateway_requests"
    __table_args__ = (
        CheckConstraint("operation IN ('charge', 'authorise', 'void', 'refund')", name="operation_known"),
        Index("ix_mock_gateway_requests_unanswered", "created_at", postgresql_where=text("answered_at IS NULL")),
        Index("ix_mock_gateway_requests_answered", "created_at", postgresql_where=text("answered_at IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(db.String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(db.String(255), nullable=False, unique=True)
    operation: Mapped[str] = mapped_column(db.String(16), nullable=False)
    reference: Mapped[str] = mapped_column(db.String(64), nullable=False)  # our transaction or refund id
    token: Mapped[str | None] = mapped_column(db.String(64))
    parent_id: Mapped[str | None] = mapped_column(db.String(40))  # the charge a refund/void applies to
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    approved: Mapped[bool] = mapped_column(db.Boolean, nullable=False)
    decline_reason: Mapped[str | None] = mapped_column(db.String(64))
    created_at: Mapped[datetime] = _now_column()
    answered_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
