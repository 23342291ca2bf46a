"""Credit notes: the numbered document of money given back on an invoice, per refund or to the balance.

A credit note is written when the payment service reports a refund of the payment that paid
the invoice (billing/refunds.py), in the same transaction as the invoice's refunded total, so
an invoice's amount_refunded_cents is always the sum of its refund credit notes; the operator's
credits without a refund (backoffice/invoices_admin.py, refund_id null) are not refunds.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from core import clock
from core.errors import ApiError
from core.extensions import db
from core.pagination import list_page
from subscription_app import integrations
from subscription_app.catalog import audit
from subscription_app.discounts import balance
from subscription_app.models import CreditNote, CreditNoteLine, Invoice


def _line(invoice: Invoice, refund: dict) -> CreditNoteLine:
    reason = f": {refund['reason']}" if refund.get("reason") else ""
    return CreditNoteLine(kind="refund", amount_cents=refund["amount_cents"], currency=refund["currency"],
                          description=f"Refund of invoice #{invoice.number}{reason}"[:255])


def record(invoice: Invoice, refund: dict) -> CreditNote | None:
    """The credit note of this refund; None if one exists already (the refund reported again)."""
    note_id = db.session.execute(
        pg_insert(CreditNote).values(
            id=uuid.uuid4(), invoice_id=invoice.id, user_id=invoice.user_id,
            subscription_id=invoice.subscription_id, refund_id=str(refund["refund_id"]),
            transaction_id=refund["transaction_id"], amount_cents=refund["amount_cents"],
            currency=refund["currency"], reason=refund.get("reason"), created_at=clock.utcnow())
        .on_conflict_do_nothing(index_elements=[CreditNote.refund_id])
        .returning(CreditNote.id)).scalar_one_or_none()
    if note_id is None:
        return None
    note = db.session.get(CreditNote, note_id)
    note.lines.append(_line(invoice, refund))
    db.session.expire(invoice, ["credit_notes"])
    integrations.emit("credit_note.created", "credit_note", note.id, integrations.dump(note))
    return note


def list_credit_notes(user_id: int, args: dict) -> dict:
    return list_page(select(CreditNote).where(CreditNote.user_id == user_id), [CreditNote.number], args)


def owned_credit_note(user_id: int, note_id: uuid.UUID) -> CreditNote:
    """Another user's credit note is a 404, exactly like a missing one."""
    note = db.session.scalar(select(CreditNote).where(CreditNote.id == note_id, CreditNote.user_id == user_id))
    if note is None:
        raise ApiError(404, "Credit note not found")
    return note


def credited_to_balance(invoice: Invoice) -> int:
    return sum(note.amount_cents for note in invoice.credit_notes if note.refund_id is None)


def credit_to_balance(invoice_id: uuid.UUID, amount_cents: int, reason: str, actor: audit.Actor) -> CreditNote:
    """A credit note that refunds nothing: its amount goes to the customer balance (docs/credit-balance.md).

    At most what was paid and is neither refunded nor credited yet; the invoice row is locked so
    two operators at once cannot credit the same cents twice.
    """
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None:
        raise ApiError(404, "Invoice not found")
    left = invoice.amount_paid_cents - invoice.amount_refunded_cents - credited_to_balance(invoice)
    if amount_cents > left:
        raise ApiError(422, f"At most {left} can be credited on this invoice (paid, less refunded and credited)",
                       errors={"json": {"amount_cents": [f"Must be at most {left}."]}})
    note = CreditNote(id=uuid.uuid4(), invoice_id=invoice.id, user_id=invoice.user_id,
                      subscription_id=invoice.subscription_id, amount_cents=amount_cents, currency=invoice.currency,
                      reason=reason, created_at=clock.utcnow())
    note.lines.append(CreditNoteLine(kind="credit_to_balance", amount_cents=amount_cents, currency=invoice.currency,
                                     description=f"Credit to balance for invoice #{invoice.number}: {reason}"[:255]))
    db.session.add(note)
    db.session.flush()
    balance.credit(invoice.user_id, invoice.currency, amount_cents, "credit_note", invoice_id=invoice.id,
                   credit_note_id=note.id)
    db.session.expire(invoice, ["credit_notes"])
    audit.record(actor, "credit_note.created", "invoice", invoice.id, None,  # on the invoice's (and customer's) trail
                 {"credit_note_id": note.id, "amount_cents": amount_cents, "currency": note.currency, "refund": False,
                  "reason": reason})
    integrations.emit("credit_note.created", "credit_note", note.id, integrations.dump(note))
    return note
