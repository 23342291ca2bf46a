"""Credit notes: the numbered document of money given back on an invoice, one per refund.

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
