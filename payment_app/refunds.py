"""Refunds: full by default, partial allowed, never more than was captured in total.

The transaction row is locked (SELECT ... FOR UPDATE) while the refundable amount is
computed and the pending refund inserted, so two parallel refunds serialise: the
second sees the first one's pending amount. Pending refunds count against the total,
so the gateway is never asked for more than it captured. A refund another service asks
for carries its request_id, unique per transaction: asked again, it is the same refund.
Its goal is the money back, not a refund of ours: a transaction already refunded in full
(by hand, through POST /refund) answers so and records nothing, and "the rest" waits for
a pending refund to settle, since what is left depends on how that one ends.

A payment that paid an invoice is refunded only by an operator (an admin, or the subscription
service's token): the refund changes the invoice and can end its subscription (docs/refunds.md).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from core.errors import ApiError
from core.extensions import db
from core.queues import PAYMENTS, enqueue_after_commit
from payment_app import gateway, payments
from payment_app.models import REFUNDABLE_STATUSES, Refund, Transaction
from payment_app.reconcile import gateway_key

log = logging.getLogger(__name__)


def _pending_cents(txn: Transaction) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(Refund.amount_cents), 0))
                                 .where(Refund.transaction_id == txn.id, Refund.status == "pending")))


def refundable_cents(txn: Transaction) -> int:
    return txn.amount_cents - txn.refunded_cents - _pending_cents(txn)


@dataclass(frozen=True)
class Caller:
    """Who asks for a refund through POST /refund: a customer, an admin, or the service (user_id None)."""
    user_id: int | None
    operator: bool

    @property
    def label(self) -> str:
        if self.user_id is None:
            return "service"
        return f"{'admin' if self.operator else 'user'}:{self.user_id}"


def request_refund(caller: Caller, txn_id: uuid.UUID, amount_cents: int | None, reason: str | None,
                   keep_subscription: bool = False) -> Refund:
    """POST /refund: flushed, not committed; the caller commits (core.idempotency, with its stored answer)."""
    can_end = _refund_can_end_subscription(txn_id) if caller.operator else False
    txn = _locked_transaction(txn_id)
    if txn is None or (not caller.operator and txn.user_id != caller.user_id):
        db.session.rollback()
        raise ApiError(404, "Transaction not found")
    if txn.invoice_id is not None and not caller.operator:
        db.session.rollback()
        raise ApiError(403, "This payment paid an invoice: only an operator (support) can refund it, since the "
                            "refund changes the invoice and its subscription")
    return _create(txn, amount_cents, reason, None, keep_subscription=keep_subscription, requested_by=caller.label,
                   can_end_subscription=can_end)


def request_service_refund(txn_id: uuid.UUID, amount_cents: int | None, reason: str,
                           request_id: str) -> tuple[str, Refund | None, Transaction]:
    """A refund another service asks for (POST /internal/refunds); (outcome, refund, transaction).

    The outcome is "refund_requested" (a new pending refund), "already_requested" (the refund this
    request_id made, whatever became of it) or "already_refunded" (refunded in full before it was
    asked: nothing is recorded, no refund). The refund is the transaction owner's, whoever asks.
    Everything is decided under the row lock, so a redelivery racing the first delivery waits for it.
    """
    txn = _locked_transaction(txn_id)
    if txn is None:
        db.session.rollback()
        raise ApiError(404, "Transaction not found")
    existing = db.session.scalar(select(Refund).where(Refund.transaction_id == txn.id,
                                                      Refund.request_id == request_id))
    if existing is not None:
        db.session.rollback()
        return "already_requested", existing, txn
    if txn.kind == "charge" and txn.status == "refunded":
        db.session.rollback()
        log.info("refund %s of transaction %s asked for (%s): already refunded in full, nothing to do",
                 request_id, txn.id, reason)
        return "already_refunded", None, txn
    if amount_cents is None and txn.status in REFUNDABLE_STATUSES and _pending_cents(txn) > 0:
        db.session.rollback()
        raise ApiError(409, "A refund of this transaction is pending: what is left to refund is known once it "
                            "settles, ask again later")
    refund = _create(txn, amount_cents, reason, request_id, requested_by="service")
    db.session.commit()
    return "refund_requested", refund, txn


def _refund_can_end_subscription(txn_id: uuid.UUID) -> bool:
    """Asked of the subscription service before the row lock is taken, so no lock waits on HTTP."""
    txn = db.session.get(Transaction, txn_id)
    if txn is None or txn.invoice_id is None:
        return False
    invoice = payments.fetch_invoice(txn.invoice_id)
    return bool(invoice and invoice.get("refund_can_end_subscription"))


def _locked_transaction(txn_id: uuid.UUID) -> Transaction | None:
    return db.session.scalar(select(Transaction).where(Transaction.id == txn_id).with_for_update())


def subscription_effect(txn: Transaction, amount: int, available: int, keep: bool, request_id: str | None,
                        can_end_subscription: bool) -> str:
    """What the refund will do to the invoice's subscription once it succeeds (docs/refunds.md)."""
    if txn.invoice_id is None or request_id is not None:
        return "none"  # a one-off charge, or an unwanted payment given back: no subscription of it to change
    if not can_end_subscription:
        return "none"  # an older period's invoice, or an ended subscription, as the subscription service says
    if amount < available or keep:
        return "kept"
    return "canceled"


def _create(txn: Transaction, amount_cents: int | None, reason: str | None, request_id: str | None, *,
            keep_subscription: bool = False, requested_by: str | None = None,
            can_end_subscription: bool = False) -> Refund:
    """Add a pending refund of the locked transaction; it is submitted once the caller commits."""
    if txn.kind != "charge" or txn.status not in REFUNDABLE_STATUSES:
        db.session.rollback()
        raise ApiError(409, f"Only a succeeded charge can be refunded (this one is {txn.status})")
    available = refundable_cents(txn)
    if available <= 0:
        db.session.rollback()
        raise ApiError(409, "Nothing left to refund (refunds already cover the whole charge)")
    amount = available if amount_cents is None else amount_cents
    if amount > available:
        db.session.rollback()
        raise ApiError(422, "Refund exceeds the refundable amount",
                       errors={"json": {"amount_cents": [f"At most {available} can be refunded."]}})
    effect = subscription_effect(txn, amount, available, keep_subscription, request_id, can_end_subscription)
    refund = Refund(id=uuid.uuid4(), transaction_id=txn.id, user_id=txn.user_id, amount_cents=amount,
                    currency=txn.currency, status="pending", reason=reason, request_id=request_id,
                    keep_subscription=keep_subscription, subscription_effect=effect, requested_by=requested_by)
    db.session.add(refund)
    db.session.flush()
    enqueue_after_commit(PAYMENTS, "payment_app.refunds.submit_to_gateway", str(refund.id))
    return refund


def submit_to_gateway(refund_id: str) -> str | None:
    """Ask the gateway to refund (same idempotency key on every retry); returns the gateway id."""
    refund = db.session.get(Refund, uuid.UUID(refund_id))
    if refund is None or refund.status != "pending":
        db.session.rollback()
        return None
    charge_id = refund.transaction.gateway_reference
    amount, currency = refund.amount_cents, refund.currency
    db.session.rollback()  # the gateway commits its own ledger
    gateway_id = gateway.refund(charge_id=charge_id, amount_cents=amount, currency=currency,
                                idempotency_key=gateway_key("refund", refund_id), reference=refund_id)
    db.session.execute(Refund.__table__.update().where(Refund.id == uuid.UUID(refund_id),
                                                       Refund.gateway_reference.is_(None))
                       .values(gateway_reference=gateway_id))
    db.session.commit()
    return gateway_id
