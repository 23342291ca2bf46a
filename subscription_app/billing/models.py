"""The subscription service's billing tables: subscriptions, invoices and their lines, credit notes,
the subscription history, payments we will not honour, and binding plan-change quotes."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core import status_wait
from core.extensions import TimestampMixin, db

# A subscription in one of these states is "live": at most one per user (partial unique index).
LIVE_STATUSES = ("incomplete", "trialing", "active", "past_due", "paused")
SUBSCRIPTION_STATUSES = LIVE_STATUSES + ("canceled", "expired", "incomplete_expired")
INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")
# subscription_final: the last period's usage of a subscription that ended (docs/usage-billing.md).
INVOICE_REASONS = ("subscription_create", "subscription_cycle", "subscription_update", "trial_conversion",
                   "manual", "subscription_final")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Subscription(TimestampMixin, db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status"),
        Index("uq_subscriptions_one_live_per_user", "user_id", unique=True,
              postgresql_where=text(_in("status", LIVE_STATUSES))),
        Index("ix_subscriptions_due", "status", "current_period_end"),
        Index("ix_subscriptions_user_created_id", "user_id", "created_at", "id"),
        Index("ix_subscriptions_created_id", "created_at", "id"),
        Index("ix_subscriptions_status_plan", "status", "plan_id", "price_id"),
        Index("ix_subscriptions_trial_start", "trial_start", postgresql_where=text("trial_start IS NOT NULL")),
        # One trial per user, ever: a trial subscription keeps its trial_start for good.
        Index("uq_subscriptions_one_trial_per_user", "user_id", unique=True,
              postgresql_where=text("trial_start IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id"), nullable=False, index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id"), nullable=False)
    status: Mapped[str] = mapped_column(db.String(24), nullable=False)
    current_period_start: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    current_period_end: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    # Where the paid cycle started: period ends are this + k intervals (billing/periods.py), so a
    # Jan 31 subscription renews on Feb 28, then Mar 31 again.
    billing_cycle_anchor: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    trial_start: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    trial_end: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("false"))
    canceled_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    # A downgrade waits here until the period ends.
    pending_plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id"))
    # The price version it pays (null: the plan's current price); an operator's migration waits in pending_price_id.
    price_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plan_prices.id"))
    pending_price_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plan_prices.id"))
    # The payment service's saved method (brand/last4/token live there, never the card number).
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Dunning: failed renewal attempts so far and when the next one is due.
    failed_payment_attempts: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    next_payment_attempt_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    # A pause (billing/pausing.py): since when, until when (None: until resumed), or scheduled.
    paused_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    resume_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    pause_at_period_end: Mapped[bool] = mapped_column(db.Boolean, nullable=False, server_default=text("false"))
    version: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


# GET /v1/subscriptions/{id}?wait= answers when this changes (core/status_wait.py).
status_wait.watch(Subscription.status, "subscription")


class Invoice(TimestampMixin, db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(_in("status", INVOICE_STATUSES), name="status"),
        CheckConstraint(_in("reason", INVOICE_REASONS), name="reason"),
        CheckConstraint("amount_due_cents >= 0", name="amount_nonnegative"),
        CheckConstraint("amount_paid_cents >= 0", name="paid_nonnegative"),
        CheckConstraint("amount_refunded_cents >= 0", name="refunded_nonnegative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        Index("ix_invoices_user_number", "user_id", "number"),
        Index("ix_invoices_status_created", "status", "created_at"),
        # Covering: the summary's money by month reads a year of invoices from the index alone.
        Index("ix_invoices_paid_at", "paid_at", postgresql_include=["currency", "amount_paid_cents"],
              postgresql_where=text("paid_at IS NOT NULL")),
        Index("ix_invoices_reason_period", "reason", "period_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    number: Mapped[int] = mapped_column(db.BigInteger, db.Identity(), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id"), nullable=False, index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("subscriptions.id"),
                                                              index=True)
    status: Mapped[str] = mapped_column(db.String(16), nullable=False, server_default="open")
    reason: Mapped[str] = mapped_column(db.String(32), nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    amount_due_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    amount_paid_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False, server_default="0")
    # Refunded so far: always the sum of its credit notes with a refund_id (billing/refunds.py).
    amount_refunded_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False, server_default="0")
    period_start: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    attempt_count: Mapped[int] = mapped_column(db.Integer, nullable=False, server_default="0")
    # The payment service's transaction that paid it.
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    paid_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    voided_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))

    lines = db.relationship("InvoiceLine", back_populates="invoice", order_by="InvoiceLine.id",
                            cascade="all, delete-orphan", lazy="selectin")
    credit_notes = db.relationship("CreditNote", back_populates="invoice", order_by="CreditNote.number",
                                   lazy="selectin")


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"
    __table_args__ = (CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),)

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("invoices.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    kind: Mapped[str] = mapped_column(db.String(24), nullable=False)  # plan | proration_charge | proration_credit
    description: Mapped[str] = mapped_column(db.String(255), nullable=False)
    # Signed: a proration credit is negative; the invoice total is never negative.
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id"))
    period_start: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
    # Usage lines (kind "usage") only: what was used, what the plan included and how it was priced.
    feature: Mapped[str | None] = mapped_column(db.String(64))
    quantity: Mapped[int | None] = mapped_column(db.BigInteger)
    included: Mapped[int | None] = mapped_column(db.BigInteger)
    billable: Mapped[int | None] = mapped_column(db.BigInteger)
    pricing: Mapped[dict | None] = mapped_column(JSONB)

    invoice = db.relationship("Invoice", back_populates="lines")


class CreditNote(db.Model):
    """The document for money given back on an invoice: a refund of its payment, or credit to the balance."""
    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        Index("ix_credit_notes_user_created", "user_id", "created_at"),
        Index("ix_credit_notes_user_number", "user_id", "number"),
        Index("ix_credit_notes_created", "created_at"),
        Index("ix_credit_notes_refunded", "created_at", postgresql_include=["currency", "amount_cents"],
              postgresql_where=text("refund_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    # An identity column: concurrent credit notes never share a number (shown as CN-000001).
    number: Mapped[int] = mapped_column(db.BigInteger, db.Identity(), unique=True, nullable=False)
    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("invoices.id"), nullable=False,
                                                  index=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, db.ForeignKey("users.id"), nullable=False)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The payment service's refund and payment; both null on a credit note to the customer balance.
    refund_id: Mapped[str | None] = mapped_column(db.String(64), unique=True)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    reason: Mapped[str | None] = mapped_column(db.String(255))
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)

    invoice = db.relationship("Invoice", back_populates="credit_notes")
    lines = db.relationship("CreditNoteLine", order_by="CreditNoteLine.id", cascade="all, delete-orphan",
                            lazy="selectin")

    @property
    def display_number(self) -> str:
        return f"CN-{self.number:06d}"


class CreditNoteLine(db.Model):
    __tablename__ = "credit_note_lines"

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    credit_note_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), db.ForeignKey("credit_notes.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(db.String(24), nullable=False)  # refund
    description: Mapped[str] = mapped_column(db.String(255), nullable=False)
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)


class SubscriptionEvent(db.Model):
    """A subscription's history, written in the same transaction as what it records."""
    __tablename__ = "subscription_events"
    __table_args__ = (Index("ix_subscription_events_subscription_at_id", "subscription_id", "at", "id"),)

    id: Mapped[int] = mapped_column(db.BigInteger, primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("subscriptions.id"),
                                                       nullable=False)
    type: Mapped[str] = mapped_column(db.String(48), nullable=False)
    details: Mapped[dict] = mapped_column(JSONB, nullable=False)
    at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)


class UnwantedPayment(db.Model):
    """A payment the payment service reported that we will not honour, and asked it to give back.

    One row per transaction, written with the refund.requested it announces (invoices.request_refund):
    however often the payment is reported, under however many event ids, one refund is requested.
    No foreign keys: an unknown invoice, or another user than the invoice's, is one of the reasons.
    """
    __tablename__ = "unwanted_payments"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(db.BigInteger, nullable=False)  # the payer, as reported
    amount_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    reason: Mapped[str] = mapped_column(db.String(64), nullable=False)
    refund_event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)  # its outbox row
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)


class PlanChangeQuote(db.Model):
    """A binding price for a plan change (billing/quotes.py), void once the subscription's version moves."""
    __tablename__ = "plan_change_quotes"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("subscriptions.id"),
                                                       nullable=False, index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), db.ForeignKey("plans.id"), nullable=False)
    subscription_version: Mapped[int] = mapped_column(db.Integer, nullable=False)
    proration: Mapped[str] = mapped_column(db.String(24), nullable=False)
    amount_due_cents: Mapped[int] = mapped_column(db.BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(db.String(3), nullable=False)
    body: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(db.DateTime(timezone=True))
