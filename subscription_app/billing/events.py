"""Payment events from the payment service (POST /v1/webhooks/payment), applied exactly once.

The event id is claimed in the inbox in the same transaction as the effect: a
redelivery finds it and changes nothing; a failed effect rolls the claim back so the
retry applies it. Amount, currency and owner are checked against the invoice: a payment
that does not match is logged at ERROR and does not mark anything paid. A payment we will
not honour (for an unknown invoice, not matching it, its invoice no longer open, its
subscription ended, its upgrade no longer applicable) is given back: a refund.requested for
it is written to the outbox in the same transaction as that decision, once per payment
(invoices.request_refund). Only money is given back: a failed payment asks for nothing.
"""
from __future__ import annotations

import logging

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from core import clock, inbox, status_wait
from core.errors import ApiError
from core.extensions import db
from core.schemas import Integer
from subscription_app import integrations
from subscription_app.billing import invoices
from subscription_app.billing.refunds import refund_succeeded
from subscription_app.billing.plan_change import apply_paid_upgrade
from subscription_app.billing.renewals import record_failure
from subscription_app.models import Invoice, Subscription, SubscriptionInbox, UnwantedPayment

log = logging.getLogger(__name__)
MAX_BIGINT = 2**63 - 1


class _Data(Schema):
    class Meta:
        unknown = EXCLUDE  # senders may add fields; we read what we need

    transaction_id = fields.UUID(required=True)
    user_id = Integer(required=True)
    subscription_id = fields.UUID(allow_none=True, load_default=None)
    payment_method_id = fields.UUID(allow_none=True, load_default=None)
    failure_reason = fields.String(allow_none=True, load_default=None)


class PaymentData(_Data):
    invoice_id = fields.UUID(required=True)
    amount_cents = Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_BIGINT))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code."))


class MethodData(_Data):
    subscription_id = fields.UUID(required=True)


class RefundData(PaymentData):
    refund_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    refunded_total_cents = Integer(required=True, strict=True)
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    keep_subscription = fields.Boolean(load_default=False)


def _locked(model, row_id):
    if row_id is None:
        return None
    return db.session.scalar(select(model).where(model.id == row_id).with_for_update())


def _invoice_and_sub(data: dict, event_type: str):
    """(invoice, subscription, mismatch): mismatch says why the payment cannot be this invoice's, or is None."""
    # Lock order everywhere: the subscription, then its invoices (renewals and cancels do the same),
    # so a webhook and a renewal of the same subscription queue up instead of deadlocking.
    # Two statements: the subscription found through its invoice and locked, then the invoice locked. Its
    # lines and credit notes load only if something reads them (the payment does not).
    owner = select(Invoice.subscription_id).where(Invoice.id == data["invoice_id"]).scalar_subquery()
    sub = db.session.scalar(select(Subscription).where(Subscription.id == owner).with_for_update())
    invoice = db.session.scalar(select(Invoice).where(Invoice.id == data["invoice_id"]).with_for_update()
                                .options(lazyload(Invoice.lines), lazyload(Invoice.credit_notes))
                                .execution_options(populate_existing=True))
    if invoice is None:
        log.error("%s for unknown invoice %s (transaction %s)", event_type, data["invoice_id"],
                  data["transaction_id"])
        return None, None, "invoice_unknown"
    if data["user_id"] != invoice.user_id:
        mismatch = "user_mismatch"
    elif data["currency"] != invoice.currency:
        mismatch = "currency_mismatch"
    else:
        return invoice, sub, None
    log.error("%s does not match invoice %s: user %s/%s, currency %s/%s (transaction %s)", event_type,
              invoice.id, data["user_id"], invoice.user_id, data["currency"], invoice.currency,
              data["transaction_id"])
    return invoice, sub, mismatch


def payment_succeeded(data: dict) -> bool:
    invoice, sub, mismatch = _invoice_and_sub(data, "payment.succeeded")
    if mismatch is not None:
        return _give_back(data, mismatch)
    if invoice.status != "open":
        if invoice.transaction_id == data["transaction_id"]:
            return False  # the same payment reported again under another event id
        # Voided while the charge was in flight (canceled, expired), or paid by another payment.
        return _give_back(data, f"invoice_{invoice.status}")
    owed = invoice.amount_due_cents - invoice.amount_paid_cents
    if data["amount_cents"] != owed:
        log.error("payment %s of %s %s does not match invoice %s owing %s: not marked paid",
                  data["transaction_id"], data["amount_cents"], data["currency"], invoice.id, owed)
        return _give_back(data, "amount_mismatch")
    now = clock.utcnow()
    invoice.amount_paid_cents += data["amount_cents"]
    invoice.status, invoice.paid_at, invoice.transaction_id = "paid", now, data["transaction_id"]
    integrations.emit("payment.succeeded", "payment", data["transaction_id"], integrations.dump(data, "payment"))
    integrations.emit("invoice.paid", "invoice", invoice.id, integrations.dump(invoice))
    if sub is None:
        return True
    if _apply_to_subscription(sub, invoice, data):
        _adopt_payment_method(sub, data["payment_method_id"])
    return True


def _apply_to_subscription(sub: Subscription, invoice: Invoice, data: dict) -> bool:
    """What a paid invoice does to its subscription; False when the payment is given back instead."""
    if invoice.reason == "subscription_update":
        return apply_paid_upgrade(sub, invoice, data)
    if invoice.reason == "subscription_final":
        return False  # the usage of an ended subscription: paid, nothing to change
    if sub.status in ("incomplete", "trialing", "past_due", "active"):
        log.info("invoice %s paid by payment %s: subscription %s %s -> active", invoice.id,
                 data["transaction_id"], sub.id, sub.status)
        sub.status = "active"
        sub.failed_payment_attempts, sub.next_payment_attempt_at = 0, None
        integrations.emit("subscription.updated", "subscription", sub.id, integrations.dump(sub))
        return True
    _give_back(data, f"subscription_{sub.status}")
    return False


def _adopt_payment_method(sub: Subscription, method_id) -> None:
    """The card that paid an invoice becomes the one later charges use (Stripe's rule, docs/payment-methods.md)."""
    if method_id is not None and method_id != sub.payment_method_id:
        log.info("subscription %s now charges payment method %s (was %s), the one that paid its invoice",
                 sub.id, method_id, sub.payment_method_id)
        sub.payment_method_id = method_id


def _give_back(data: dict, reason: str) -> bool:
    """Ask for the refund of an unwanted payment; False if it was asked for already (nothing changed)."""
    requested = invoices.request_refund(data, reason)
    log.warning("payment %s of %s %s for invoice %s not honoured (%s): %s", data["transaction_id"],
                data["amount_cents"], data["currency"], data["invoice_id"], reason,
                "refund requested" if requested else "refund already requested")
    return requested


def payment_failed(data: dict) -> bool:
    invoice, sub, mismatch = _invoice_and_sub(data, "payment.failed")
    if mismatch is not None or invoice.status != "open":
        return False
    now = clock.utcnow()
    invoice.attempt_count += 1
    integrations.emit("payment.failed", "payment", data["transaction_id"], integrations.dump(data, "payment"))
    integrations.emit("invoice.payment_failed", "invoice", invoice.id, integrations.dump(invoice))
    log.info("payment %s failed for invoice %s (%s): %s", data["transaction_id"], invoice.id, invoice.reason,
             data.get("failure_reason"))
    if sub is None:
        return True
    if invoice.reason == "subscription_update":
        invoice.status, invoice.voided_at = "void", now  # the upgrade did not happen
    elif invoice.reason in ("subscription_cycle", "trial_conversion"):
        record_failure(sub, invoice, now)
    else:  # subscription_create: stays incomplete and open, until paid or expired (23 h)...
        status_wait.announce_after_commit("subscription", sub.id)  # ...but its waiting customer hears of the decline
    return True


def _method_subscription(data: dict, event_type: str):
    sub = _locked(Subscription, data["subscription_id"])
    if sub is None or sub.user_id != data["user_id"]:
        log.error("%s for unknown subscription %s of user %s", event_type, data["subscription_id"], data["user_id"])
        return None
    return sub


def method_verified(data: dict) -> bool:
    sub = _method_subscription(data, "payment_method.verified")
    if sub is None:
        return False
    log.info("payment method %s verified for subscription %s", data["payment_method_id"], sub.id)
    return True


def method_verification_failed(data: dict) -> bool:
    """Decision: the trial goes on, without the card; at its end it expires (nothing to charge)."""
    sub = _method_subscription(data, "payment_method.verification_failed")
    if sub is None:
        return False
    if sub.status == "trialing" and sub.payment_method_id == data["payment_method_id"]:
        sub.payment_method_id = None
        log.info("trial %s keeps running without its card: %s", sub.id, data.get("failure_reason"))
        return True
    return False


def refund_failed(data: dict) -> bool:
    unwanted = db.session.get(UnwantedPayment, data["transaction_id"])
    if unwanted is not None:
        log.error("refund %s of unwanted payment %s (%s, %s %s) failed, the money is not given back: %s",
                  data["refund_id"], data["transaction_id"], unwanted.reason, unwanted.amount_cents,
                  unwanted.currency, data.get("failure_reason"))
    else:
        log.warning("refund %s of invoice %s failed: %s", data["refund_id"], data["invoice_id"],
                    data.get("failure_reason"))
    return False


HANDLERS = {
    "payment.succeeded": (PaymentData, payment_succeeded),
    "payment.failed": (PaymentData, payment_failed),
    "payment_method.verified": (MethodData, method_verified),
    "payment_method.verification_failed": (MethodData, method_verification_failed),
    "refund.succeeded": (RefundData, refund_succeeded),
    "refund.failed": (RefundData, refund_failed),
}


def receive(envelope) -> dict:
    """Apply one signed event; the answer says whether it changed anything."""
    return inbox.apply_committed(apply_envelope, envelope)


def apply_envelope(envelope, schemas: dict | None = None) -> dict:
    """One event's effect in the current transaction, not committed; raises ApiError (nothing to keep).

    `schemas`: a batch's data schemas by event type, built once for the batch (building one copies its fields)."""
    if not isinstance(envelope, dict):
        raise ApiError(400, "Event body must be a JSON object")
    event_id = envelope.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 128:
        raise ApiError(400, "event_id must be a string of 1-128 characters",
                       errors={"json": {"event_id": ["Required string, at most 128 characters."]}})
    event_type = envelope.get("type")
    if event_type is not None and (not isinstance(event_type, str) or not 0 < len(event_type) <= 64):
        raise ApiError(400, "type must be a string of 1-64 characters")
    handler = HANDLERS.get(event_type) if event_type else None
    data = None
    if handler is not None:
        try:
            schema = (schemas.get(event_type) if schemas is not None else None) or handler[0]()
            if schemas is not None:
                schemas[event_type] = schema
            data = schema.load(envelope.get("data") or {})
        except ValidationError as exc:
            raise ApiError(422, "Invalid event data", errors={"json": {"data": exc.messages}}) from None
    if not inbox.claim(SubscriptionInbox, event_id, event_type or "untyped"):
        return {"received": True, "processed": False, "duplicate": True, "event_id": event_id}
    processed = handler[1](data) if handler is not None else False
    if handler is None:
        log.info("event %s of type %r recorded without effect", event_id, event_type)
    return {"received": True, "processed": processed, "event_id": event_id}
