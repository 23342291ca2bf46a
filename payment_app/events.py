"""Outcome transitions and the events that announce them, in one place.

Every final state a transaction or refund reaches goes through `settle_transaction`
or `settle_refund`, which change the row and write the outcome event to the outbox in
the caller's transaction (committed by the caller, together with the inbox claim).
A final state never moves back: a second answer for the same row changes nothing.
Metrics hooks belong here, counted when the caller commits (core.on_commit): an
answer whose commit fails is answered again by the gateway, and must count once.

Only what concerns the subscription service is announced to it: charges and refunds
of an invoice, and trial-card verifications. A one-off charge (POST /process with an
amount) has no invoice; its outcome is read from GET /v1/payments/transactions/{id}.
"""
from __future__ import annotations

import logging

from core import metrics, outbox
from core.on_commit import on_commit
from payment_app.models import PaymentOutbox, Refund, Transaction

log = logging.getLogger(__name__)
TARGET = "subscription_webhook"


def _str(value):
    return str(value) if value is not None else None


def payment_data(txn: Transaction) -> dict:
    return {"transaction_id": str(txn.id), "user_id": txn.user_id, "invoice_id": _str(txn.invoice_id),
            "subscription_id": _str(txn.subscription_id), "payment_method_id": _str(txn.payment_method_id),
            "amount_cents": txn.amount_cents, "currency": txn.currency}


def verification_data(txn: Transaction) -> dict:
    data = {"transaction_id": str(txn.id), "user_id": txn.user_id, "subscription_id": _str(txn.subscription_id),
            "payment_method_id": _str(txn.payment_method_id)}
    if txn.status == "failed":
        data["failure_reason"] = txn.failure_reason
    return data


def refund_data(refund: Refund, txn: Transaction) -> dict:
    return {"refund_id": str(refund.id), "transaction_id": str(txn.id), "user_id": txn.user_id,
            "invoice_id": _str(txn.invoice_id), "amount_cents": refund.amount_cents, "currency": refund.currency,
            "refunded_total_cents": txn.refunded_cents, "reason": refund.reason,
            "keep_subscription": refund.keep_subscription}


def _count_on_commit(outcome: str) -> None:
    on_commit(lambda: metrics.payment_outcome(outcome))


def settle_transaction(txn: Transaction, *, succeeded: bool, failure_reason: str | None = None,
                       gateway_reference: str | None = None) -> bool:
    """pending -> succeeded | failed, plus the outcome event. False (and no change) if already settled."""
    if txn.status != "pending":
        return False
    txn.status = "succeeded" if succeeded else "failed"
    txn.failure_reason = None if succeeded else (failure_reason or "declined")
    if gateway_reference and not txn.gateway_reference:
        txn.gateway_reference = gateway_reference
    if txn.kind == "verify":
        event_type = "payment_method.verified" if succeeded else "payment_method.verification_failed"
        data = verification_data(txn)
    elif txn.invoice_id is None:
        event_type = None  # a one-off charge: nothing for the subscription service to apply
    else:
        event_type = "payment.succeeded" if succeeded else "payment.failed"
        data = payment_data(txn)
        if not succeeded:
            data["failure_reason"] = txn.failure_reason
    if event_type is not None:
        outbox.emit(PaymentOutbox, event_type, TARGET, data)
    _count_on_commit(txn.status if txn.kind == "charge" else f"{txn.kind}_{txn.status}")
    log.info("transaction %s %s (%s)", txn.id, txn.status, txn.kind)
    return True


def mark_voided(txn: Transaction) -> bool:
    """A verification's zero-amount authorisation was released (no event: nothing changed for the user)."""
    if txn.kind != "verify" or txn.status != "succeeded":
        return False
    txn.status = "voided"
    return True


def settle_refund(refund: Refund, txn: Transaction, *, succeeded: bool, failure_reason: str | None = None,
                  gateway_reference: str | None = None) -> bool:
    """pending -> succeeded (the transaction's refund total grows) | failed, plus the outcome event.

    The caller holds the transaction row lock, as refunds.request_refund does.
    """
    if refund.status != "pending":
        return False
    if gateway_reference and not refund.gateway_reference:
        refund.gateway_reference = gateway_reference
    if succeeded:
        refund.status = "succeeded"
        txn.refunded_cents += refund.amount_cents
        txn.status = "refunded" if txn.refunded_cents >= txn.amount_cents else "partially_refunded"
    else:
        refund.status = "failed"
        refund.failure_reason = failure_reason or "declined"
    if txn.invoice_id is not None:
        outbox.emit(PaymentOutbox, f"refund.{refund.status}", TARGET, refund_data(refund, txn))
    _count_on_commit(f"refund_{refund.status}")
    log.info("refund %s of transaction %s %s", refund.id, txn.id, refund.status)
    return True
