"""A one-off charge of a customer's saved card: a `manual` invoice, charged through the outbox as renewals are.

The invoice belongs to no subscription, so paying it (or failing to) changes no subscription;
the payment service answers with payment.succeeded / payment.failed for the invoice.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select

from core import clock, outbox
from core.errors import ApiError
from core.extensions import db
from subscription_app import integrations
from subscription_app.backoffice.customers import get_customer
from subscription_app.billing.invoices import CHARGE_TARGET
from subscription_app.catalog import audit
from subscription_app.catalog.audit import Actor
from subscription_app.models import Invoice, InvoiceLine, Subscription, SubscriptionOutbox


def saved_method(user_id: int) -> uuid.UUID:
    """The card the customer's newest subscription charges; 409 when they have none."""
    method = db.session.scalar(select(Subscription.payment_method_id)
                               .where(Subscription.user_id == user_id, Subscription.payment_method_id.is_not(None))
                               .order_by(Subscription.created_at.desc()).limit(1))
    if method is None:
        raise ApiError(409, "The customer has no saved card to charge")
    return method


def charge(customer_id: int, amount_cents: int, currency: str, reason: str, actor: Actor) -> Invoice:
    """An open `manual` invoice for amount_cents and its charge.requested, in one transaction."""
    user = get_customer(customer_id)
    method = saved_method(user.id)
    invoice = Invoice(id=uuid.uuid4(), user_id=user.id, subscription_id=None, reason="manual", currency=currency,
                      amount_due_cents=amount_cents, amount_paid_cents=0, amount_refunded_cents=0, attempt_count=0,
                      status="open", period_start=clock.utcnow(), period_end=clock.utcnow())
    invoice.lines = [InvoiceLine(kind="manual", description=reason[:255], amount_cents=amount_cents,
                                 currency=currency)]
    db.session.add(invoice)
    db.session.flush()
    outbox.emit(SubscriptionOutbox, "charge.requested", CHARGE_TARGET, {
        "idempotency_key": f"{invoice.id}:1", "user_id": user.id, "invoice_id": str(invoice.id),
        "subscription_id": None, "payment_method_id": str(method), "amount_cents": amount_cents,
        "currency": currency, "kind": "charge", "description": reason[:255]})
    integrations.emit("invoice.created", "invoice", invoice.id, integrations.dump(invoice))
    audit.record(actor, "customer.charge", "customer", user.id, None,
                 {"invoice_id": invoice.id, "amount_cents": amount_cents, "currency": currency, "reason": reason})
    return invoice
