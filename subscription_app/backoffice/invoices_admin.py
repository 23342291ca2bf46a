"""Invoices for the operator: list all with filters, void, mark uncollectible, credit without a refund.

A credit note without a refund records money the operator forgives on a paid invoice (the
customer's balance is the coupons work's concern); it never changes amount_refunded_cents,
which stays the sum of refunds the payment service reported.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select

from core import clock, outbox
from core.errors import ApiError
from core.extensions import db
from core.schemas import paginate
from subscription_app import integrations
from subscription_app.billing import credit_notes
from subscription_app.billing.invoices import REFUND_TARGET
from subscription_app.catalog import audit
from subscription_app.catalog.audit import Actor
from subscription_app.models import CreditNote, Invoice, SubscriptionOutbox


def list_all(page: int, per_page: int, **filters) -> dict:
    """Every invoice, newest first, filtered as `filtered` reads them."""
    return paginate(filtered(**filters).order_by(Invoice.number.desc()), page, per_page)


def filtered(status: str | None = None, customer_id: int | None = None, reason: str | None = None,
             period_from: datetime | None = None, period_to: datetime | None = None):
    """Invoices by status, customer, reason, and created in [period_from, period_to)."""
    stmt = select(Invoice)
    for column, value in ((Invoice.status, status), (Invoice.user_id, customer_id), (Invoice.reason, reason)):
        if value is not None:
            stmt = stmt.where(column == value)
    if period_from:
        stmt = stmt.where(Invoice.created_at >= period_from)
    if period_to:
        stmt = stmt.where(Invoice.created_at < period_to)
    return stmt


def _locked(invoice_id: uuid.UUID) -> Invoice:
    invoice = db.session.scalar(select(Invoice).where(Invoice.id == invoice_id).with_for_update())
    if invoice is None:
        raise ApiError(404, "Invoice not found")
    return invoice


def _state(invoice: Invoice) -> dict:
    return {"status": invoice.status, "amount_due_cents": invoice.amount_due_cents,
            "amount_paid_cents": invoice.amount_paid_cents, "voided_at": invoice.voided_at}


def _close(invoice_id: uuid.UUID, status: str, actor: Actor) -> Invoice:
    invoice = _locked(invoice_id)
    if invoice.status != "open":
        raise ApiError(409, f"Only an open invoice can be marked {status}; this one is {invoice.status}")
    before = _state(invoice)
    invoice.status = status
    if status == "void":
        invoice.voided_at = clock.utcnow()
    audit.record(actor, f"invoice.{status}", "invoice", invoice.id, before, _state(invoice))
    if status == "void":  # integrators subscribe to invoice.voided; uncollectible has no event type yet
        integrations.emit("invoice.voided", "invoice", invoice.id, integrations.dump(invoice))
    return invoice


def void(invoice_id: uuid.UUID, actor: Actor) -> Invoice:
    """An open invoice the customer no longer owes (a paid one needs a credit note instead)."""
    return _close(invoice_id, "void", actor)


def mark_uncollectible(invoice_id: uuid.UUID, actor: Actor) -> Invoice:
    """An open invoice the operator gives up collecting; it stays on the books as bad debt."""
    return _close(invoice_id, "uncollectible", actor)


def creditable_cents(invoice: Invoice) -> int:
    """What is left to credit: paid, minus refunds, minus earlier credit notes without a refund."""
    credited = db.session.scalar(select(func.coalesce(func.sum(CreditNote.amount_cents), 0))
                                 .where(CreditNote.invoice_id == invoice.id, CreditNote.refund_id.is_(None)))
    return invoice.amount_paid_cents - invoice.amount_refunded_cents - int(credited)  # SUM is numeric: an int again


def _checked_amount(invoice: Invoice, amount_cents: int | None) -> int:
    if invoice.status != "paid":
        raise ApiError(409, f"Only a paid invoice can be credited; this one is {invoice.status}")
    left = creditable_cents(invoice)
    amount = left if amount_cents is None else amount_cents
    if amount <= 0 or amount > left:
        raise ApiError(422, "Validation failed", errors={"json": {"amount_cents": [
            f"Must be between 1 and {left}, what is left to credit on this invoice."]}})
    return amount


def refund(invoice_id: uuid.UUID, amount_cents: int | None, reason: str, actor: Actor) -> dict:
    """Ask the payment service to refund the payment of a paid invoice (refund.requested, in this transaction).

    Its refund.succeeded then writes the credit note with the refund's id (billing/refunds.py).
    """
    invoice = _locked(invoice_id)
    amount = _checked_amount(invoice, amount_cents)
    request_id = f"admin-refund:{uuid.uuid4()}"
    outbox.emit(SubscriptionOutbox, "refund.requested", REFUND_TARGET, {
        "request_id": request_id, "transaction_id": str(invoice.transaction_id), "amount_cents": amount,
        "reason": reason})
    requested = {"invoice_id": invoice.id, "transaction_id": invoice.transaction_id, "amount_cents": amount,
                 "currency": invoice.currency, "reason": reason, "request_id": request_id}
    audit.record(actor, "invoice.refund_requested", "invoice", invoice.id, None, requested)
    return requested


def credit_note(invoice_id: uuid.UUID, amount_cents: int | None, reason: str, actor: Actor) -> CreditNote:
    """A credit note without a refund on a paid invoice (the whole creditable amount unless amount_cents):
    its amount goes to the customer balance, paid to the next invoices (billing/credit_notes.py)."""
    invoice = _locked(invoice_id)
    return credit_notes.credit_to_balance(invoice.id, _checked_amount(invoice, amount_cents), reason, actor)
