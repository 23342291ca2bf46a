"""The customer credit balance: a ledger, summed per currency (docs/credit-balance.md).

Negative amounts are credit the customer holds; applying it to an invoice writes a positive
row. The user row is locked while the balance is read and used, so two invoices at once
never spend the same credit twice.
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from core.extensions import db
from subscription_app.discounts.models import BalanceTransaction
from subscription_app.models import Invoice, InvoiceLine, User


def balances(user_id: int) -> list[dict]:
    """Credit held per currency, as positive cents (the ledger's sign flipped); zero balances are left out."""
    rows = db.session.execute(select(BalanceTransaction.currency, func.sum(BalanceTransaction.amount_cents))
                              .where(BalanceTransaction.user_id == user_id)
                              .group_by(BalanceTransaction.currency).order_by(BalanceTransaction.currency)).all()
    return [{"currency": currency, "amount_cents": -int(total)} for currency, total in rows if total]


def credit_held(user_id: int, currency: str, lock: bool = False) -> int:
    if lock:
        db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    total = db.session.scalar(select(func.coalesce(func.sum(BalanceTransaction.amount_cents), 0))
                              .where(BalanceTransaction.user_id == user_id, BalanceTransaction.currency == currency))
    return max(0, -int(total))


def record(user_id: int, currency: str, amount_cents: int, reason: str, invoice_id: uuid.UUID | None = None,
           credit_note_id: uuid.UUID | None = None) -> BalanceTransaction:
    row = BalanceTransaction(user_id=user_id, currency=currency, amount_cents=amount_cents, reason=reason,
                             invoice_id=invoice_id, credit_note_id=credit_note_id)
    db.session.add(row)
    return row


def credit(user_id: int, currency: str, amount_cents: int, reason: str, **refs) -> BalanceTransaction:
    """Give the customer `amount_cents` (> 0) of credit."""
    return record(user_id, currency, -amount_cents, reason, **refs)


def applied_line(user_id: int, currency: str, total_cents: int, held: int | None = None) -> InvoiceLine | None:
    """The line spending held credit on an invoice of `total_cents`: never more than the total.

    With `held` (read by the caller without the lock) it only shows what would be spent: the upcoming invoice.
    """
    used = min(credit_held(user_id, currency, lock=True) if held is None else held, total_cents)
    if used <= 0:
        return None
    return InvoiceLine(kind="applied_balance", currency=currency, amount_cents=-used,
                       description="Applied customer balance")


def spend(invoice: Invoice) -> None:
    """The ledger row for the invoice's applied_balance line (the invoice is flushed first)."""
    used = -sum(line.amount_cents for line in invoice.lines if line.kind == "applied_balance")
    if used:
        db.session.flush()
        record(invoice.user_id, invoice.currency, used, "applied_to_invoice", invoice_id=invoice.id)


def give_back(invoice: Invoice) -> None:
    """A voided invoice returns the credit it had taken."""
    taken = db.session.scalar(select(func.coalesce(func.sum(BalanceTransaction.amount_cents), 0))
                              .where(BalanceTransaction.invoice_id == invoice.id))
    if taken > 0:
        credit(invoice.user_id, invoice.currency, int(taken), "invoice_voided", invoice_id=invoice.id)


def excess_lines(amount_cents: int, currency: str) -> list[InvoiceLine]:
    """A negative total (credit beyond the charge) is moved to the balance by a balancing line, never paid out."""
    if amount_cents >= 0:
        return []
    return [InvoiceLine(kind="credit_to_balance", currency=currency, amount_cents=-amount_cents,
                        description="Unused credit moved to your customer balance")]


def bank_excess(invoice: Invoice) -> None:
    """The ledger row for the invoice's credit_to_balance line (the invoice is flushed first)."""
    excess = sum(line.amount_cents for line in invoice.lines if line.kind == "credit_to_balance")
    if excess:
        db.session.flush()
        credit(invoice.user_id, invoice.currency, excess, "interval_change_credit", invoice_id=invoice.id)
