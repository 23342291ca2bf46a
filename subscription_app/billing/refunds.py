"""A refund of the payment that paid an invoice (refund.succeeded), and what it does to the subscription.

Each refund gets a credit note and adds its amount to the invoice's amount_refunded_cents, once
per refund id however often it is reported. The refund that brings the refunded total to the
whole amount paid of the current period's invoice ends the subscription at once, unless it was
asked with keep_subscription; a partial refund keeps it (docs/refunds.md). Both are in the history.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app import integrations
from subscription_app.billing import credit_notes, history, invoices
from subscription_app.billing.lifecycle import end_now
from subscription_app.models import CreditNote, Invoice, Subscription, UnwantedPayment

log = logging.getLogger(__name__)


def _locked(invoice_id):
    """(invoice, subscription), locked in the order renewals and payments use: the subscription first."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        return None, None
    sub = None
    if invoice.subscription_id is not None:
        sub = db.session.scalar(select(Subscription).where(Subscription.id == invoice.subscription_id)
                                .with_for_update())
    db.session.refresh(invoice, with_for_update=True)
    return invoice, sub


def _is_invoice_payment(invoice: Invoice | None, data: dict) -> bool:
    if invoice is None or invoice.currency != data["currency"] or invoice.user_id != data["user_id"]:
        unwanted = db.session.get(UnwantedPayment, data["transaction_id"])
        if unwanted is not None:  # asked for: its invoice unknown, or not the payer's
            log.info("refund %s of unwanted payment %s (%s) succeeded", data["refund_id"], data["transaction_id"],
                     unwanted.reason)
        else:
            log.error("refund %s does not match invoice %s", data["refund_id"], data["invoice_id"])
        return False
    if invoice.transaction_id != data["transaction_id"]:
        log.info("refund %s of payment %s, which did not pay invoice %s (%s): the invoice is unchanged",
                 data["refund_id"], data["transaction_id"], invoice.id, invoice.status)
        return False
    return True


def refund_succeeded(data: dict) -> bool:
    invoice, sub = _locked(data["invoice_id"])
    if not _is_invoice_payment(invoice, data):
        return False
    if invoice.amount_refunded_cents + data["amount_cents"] > invoice.amount_paid_cents:
        log.error("refund %s of %s would exceed the %s paid on invoice %s (%s refunded): not recorded",
                  data["refund_id"], data["amount_cents"], invoice.amount_paid_cents, invoice.id,
                  invoice.amount_refunded_cents)
        return False
    note = credit_notes.record(invoice, data)
    if note is None:
        return False  # this refund was recorded already (reported again under another event id)
    invoice.amount_refunded_cents += data["amount_cents"]
    integrations.emit("refund.succeeded", "refund", data["refund_id"], integrations.dump(data, "refund"))
    if invoice.amount_refunded_cents != data["refunded_total_cents"]:
        log.info("invoice %s refunded %s so far, the payment %s: another refund's report is on its way",
                 invoice.id, invoice.amount_refunded_cents, data["refunded_total_cents"])
    if sub is not None:
        _apply_to_subscription(invoice, sub, note, data["keep_subscription"])
    return True


def subscription_effect(invoice: Invoice, sub: Subscription, keep: bool) -> str:
    if not sub.is_live or not invoices.covers_current_period(invoice, sub):
        return "none"
    if invoice.amount_refunded_cents < invoice.amount_paid_cents or keep:
        return "kept"
    return "canceled"


def _apply_to_subscription(invoice: Invoice, sub: Subscription, note: CreditNote, keep: bool) -> None:
    effect = subscription_effect(invoice, sub, keep)
    history.record(sub, "refund", {
        "invoice_id": str(invoice.id), "credit_note_id": str(note.id), "credit_note": note.display_number,
        "refund_id": note.refund_id, "amount_cents": note.amount_cents, "currency": note.currency,
        "amount_refunded_cents": invoice.amount_refunded_cents, "amount_paid_cents": invoice.amount_paid_cents,
        "keep_subscription": keep, "subscription_effect": effect})
    if effect == "canceled":
        end_now(sub, "canceled", clock.utcnow())
        history.record(sub, "canceled", {"reason": "invoice_refunded", "credit_note": note.display_number,
                                         "invoice_id": str(invoice.id)})
        log.info("subscription %s canceled: invoice %s refunded in full (%s)", sub.id, invoice.id,
                 note.display_number)
