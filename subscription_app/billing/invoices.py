"""Invoices: built with line items in integer cents, charged through the outbox, read by owners."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from core import outbox
from core.errors import ApiError
from core.extensions import db
from core.pagination import list_page
from subscription_app import integrations
from subscription_app.catalog import prices
from subscription_app.discounts import apply as discounts
from subscription_app.discounts import balance
from subscription_app.models import (Invoice, InvoiceLine, Plan, Subscription, SubscriptionOutbox,
                                     UnwantedPayment)

CHARGE_TARGET = "payment_charges"
REFUND_TARGET = "payment_refunds"


def _fmt(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "?"


def plan_line(plan: Plan, start: datetime, end: datetime, kind: str = "plan", amount_cents: int | None = None,
              description: str | None = None, currency: str | None = None) -> InvoiceLine:
    return InvoiceLine(kind=kind, plan_id=plan.id, currency=currency or plan.currency, period_start=start,
                       period_end=end,
                       amount_cents=plan.price_cents if amount_cents is None else amount_cents,
                       description=description or f"{plan.name} ({_fmt(start)} to {_fmt(end)})")


def new_invoice(sub: Subscription, reason: str, currency: str, lines: list[InvoiceLine],
                period_start: datetime, period_end: datetime, now: datetime) -> Invoice:
    """An open invoice for the lines' total; a zero total is paid at once (nothing to collect)."""
    total = sum(line.amount_cents for line in lines)
    if total < 0:
        raise ValueError("an invoice total is never negative")
    invoice = Invoice(id=uuid.uuid4(), user_id=sub.user_id, subscription_id=sub.id, reason=reason,
                      currency=currency, amount_due_cents=total, amount_paid_cents=0, amount_refunded_cents=0,
                      attempt_count=0, period_start=period_start, period_end=period_end,
                      status="paid" if total == 0 else "open", paid_at=now if total == 0 else None)
    invoice.lines = lines
    db.session.add(invoice)
    integrations.emit("invoice.created", "invoice", invoice.id, integrations.dump(invoice))
    if invoice.status == "paid":
        integrations.emit("invoice.paid", "invoice", invoice.id, integrations.dump(invoice))
    return invoice


def plan_invoice(sub: Subscription, plan: Plan, reason: str, start: datetime, end: datetime,
                 now: datetime, usage_lines: tuple[InvoiceLine, ...] = ()) -> Invoice:
    """A period of `plan` at the price `sub` pays (its own price version, catalog/prices.py), plus usage in arrears.

    Its discount (on the plan line), then the customer's credit balance, come off before anything is charged.
    """
    price = prices.price_of(sub, plan)
    line = plan_line(plan, start, end, amount_cents=price.amount_cents, currency=price.currency)
    lines = [line, *discounts.plan_discount_lines(sub, line), *usage_lines]
    return with_balance(sub, reason, price.currency, lines, start, end, now)


def with_balance(sub: Subscription, reason: str, currency: str, lines: list[InvoiceLine],
                 period_start: datetime, period_end: datetime, now: datetime) -> Invoice:
    """new_invoice, after the customer's held credit (in its currency) is spent on the total."""
    applied = balance.applied_line(sub.user_id, currency, sum(line.amount_cents for line in lines))
    invoice = new_invoice(sub, reason, currency, lines + ([applied] if applied else []), period_start,
                          period_end, now)
    balance.spend(invoice)
    return invoice


def request_charge(invoice: Invoice, sub: Subscription, description: str) -> None:
    """Ask the payment service to charge the saved method, in the caller's transaction.

    The idempotency key names the attempt: a dunning retry is a new attempt, hence a new
    charge, while a redelivered request for the same attempt is the same charge.
    """
    attempt = invoice.attempt_count + 1
    outbox.emit(SubscriptionOutbox, "charge.requested", CHARGE_TARGET, {
        "idempotency_key": f"{invoice.id}:{attempt}",
        "user_id": sub.user_id,
        "invoice_id": str(invoice.id),
        "subscription_id": str(sub.id),
        "payment_method_id": str(sub.payment_method_id),
        "amount_cents": invoice.amount_due_cents - invoice.amount_paid_cents,
        "currency": invoice.currency,
        "kind": "charge",
        "description": description,
    })


def request_verification(sub: Subscription, currency: str) -> None:
    """The zero-amount authorisation of a trial card (voided by the payment service)."""
    outbox.emit(SubscriptionOutbox, "charge.requested", CHARGE_TARGET, {
        "idempotency_key": f"verify:{sub.id}",
        "user_id": sub.user_id,
        "invoice_id": None,
        "subscription_id": str(sub.id),
        "payment_method_id": str(sub.payment_method_id),
        "amount_cents": 0,
        "currency": currency,
        "kind": "verify",
        "description": "Card verification for a trial",
    })


def request_refund(payment: dict, reason: str) -> bool:
    """Give back a payment we will not honour, in the caller's transaction (with the decision).

    `payment` is the reported payment: transaction_id, user_id, invoice_id, amount_cents, currency.
    The first decision about a transaction records it in unwanted_payments with its refund.requested;
    a later one (the payment reported again under another event id, or judged again for another
    reason) finds the row and asks for nothing: False. The insert waits for a concurrent insert of the
    same transaction, so two reports at once ask once too. The request id names the payment, so the
    payment service also makes one refund however often the request is delivered: of all that is left.
    """
    event_id = uuid.uuid4()
    recorded = db.session.execute(
        pg_insert(UnwantedPayment).values(
            transaction_id=payment["transaction_id"], invoice_id=payment["invoice_id"], user_id=payment["user_id"],
            amount_cents=payment["amount_cents"], currency=payment["currency"], reason=reason,
            refund_event_id=event_id)
        .on_conflict_do_nothing(index_elements=[UnwantedPayment.transaction_id])
        .returning(UnwantedPayment.transaction_id)).scalar_one_or_none()
    if recorded is None:
        return False
    outbox.emit(SubscriptionOutbox, "refund.requested", REFUND_TARGET, {
        "request_id": f"unwanted-payment:{payment['transaction_id']}",
        "transaction_id": str(payment["transaction_id"]),
        "reason": reason,
    }, event_id=event_id)
    return True


def void_open_invoices(sub: Subscription, now: datetime, reason: str | None = None) -> int:
    stmt = update(Invoice).where(Invoice.subscription_id == sub.id, Invoice.status == "open")
    if reason is not None:
        stmt = stmt.where(Invoice.reason == reason)
    voided = db.session.scalars(stmt.values(status="void", voided_at=now).returning(Invoice)).all()
    for invoice in voided:
        balance.give_back(invoice)
        integrations.emit("invoice.voided", "invoice", invoice.id, integrations.dump(invoice))
    return len(voided)


def open_invoice(sub: Subscription, reason: str) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id, Invoice.status == "open",
                                                   Invoice.reason == reason).order_by(Invoice.number.desc()))


def latest_invoice(sub: Subscription) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id)
                             .order_by(Invoice.number.desc()).limit(1))


def owned_invoice(user_id: int, invoice_id: uuid.UUID) -> Invoice:
    """Another user's invoice is a 404, exactly like a missing one."""
    invoice = db.session.scalar(select(Invoice).where(Invoice.id == invoice_id, Invoice.user_id == user_id))
    if invoice is None:
        raise ApiError(404, "Invoice not found")
    return invoice


def list_invoices(user_id: int, args: dict) -> dict:
    return list_page(select(Invoice).where(Invoice.user_id == user_id), [Invoice.number], args)


def covers_current_period(invoice: Invoice, sub: Subscription) -> bool:
    """The invoice's period overlaps the subscription's current one (the first, a renewal, a proration)."""
    return ((invoice.period_end is None or invoice.period_end > sub.current_period_start)
            and (invoice.period_start is None or invoice.period_start < sub.current_period_end))


def refund_can_end_subscription(invoice: Invoice) -> bool:
    """Whether a full refund of this invoice ends its subscription (docs/refunds.md)."""
    sub = db.session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    return sub is not None and sub.is_live and covers_current_period(invoice, sub)


def internal_view(invoice: Invoice) -> dict:
    """What the payment service may know about an invoice (docs/service-contract.md)."""
    return {"id": str(invoice.id), "user_id": invoice.user_id,
            "subscription_id": str(invoice.subscription_id) if invoice.subscription_id else None,
            "status": invoice.status, "amount_due_cents": invoice.amount_due_cents,
            "amount_paid_cents": invoice.amount_paid_cents, "currency": invoice.currency,
            "refund_can_end_subscription": refund_can_end_subscription(invoice)}
