"""Replace a subscription's card (docs/payment-methods.md); a past_due one is retried with it at once.

The card goes to the payment service (payment_methods.tokenise) before any row is locked, so a
slow or failing payment service holds no lock and a bad card changes nothing.
"""
from __future__ import annotations

import uuid

from core.errors import ApiError
from core.extensions import db
from subscription_app.billing import history, invoices, payment_methods
from subscription_app.billing.lifecycle import owned_subscription, with_latest_invoice
from subscription_app.billing.renewals import due_invoice
from subscription_app.models import Subscription


def update_card(user_id: int, subscription_id: uuid.UUID, card: dict) -> Subscription:
    _refuse_if_ended(owned_subscription(user_id, subscription_id))
    method_id = payment_methods.tokenise(user_id, card)
    sub = owned_subscription(user_id, subscription_id, for_update=True)
    _refuse_if_ended(sub)  # it may have ended while the card was being saved
    previous, sub.payment_method_id = sub.payment_method_id, method_id
    retried = _retry_now(sub)
    history.record(sub, "payment_method_updated", {
        "payment_method_id": str(method_id), "previous_payment_method_id": str(previous) if previous else None,
        "retried_invoice_id": str(retried.id) if retried else None})
    db.session.commit()
    return with_latest_invoice(sub)


def _refuse_if_ended(sub: Subscription) -> None:
    if not sub.is_live:
        raise ApiError(409, f"Subscription is {sub.status}; its card can no longer be changed")


def _retry_now(sub: Subscription):
    """A past_due subscription waiting for its next retry is charged now; one already in flight is left alone."""
    if sub.status != "past_due" or sub.next_payment_attempt_at is None:
        return None
    invoice = due_invoice(sub)
    if invoice is None:
        return None
    sub.next_payment_attempt_at = None  # the attempt is in flight; its outcome schedules the next
    invoices.request_charge(invoice, sub, "Retry with the updated card")
    return invoice
