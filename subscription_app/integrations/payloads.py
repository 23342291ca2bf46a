"""The versioned payloads integrators receive: one marshmallow schema per object, one envelope.

    {"id": "evt_...", "type": "invoice.paid", "api_version": "2026-12-01", "timestamp": "...",
     "data": {"object_type": "invoice", "object": {...}}}

A field is only ever added within an api_version; renaming or removing one needs a new version.
The schemas are registered as OpenAPI components (register_components) with one example each.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from core.schemas import Integer

API_VERSION = "2026-12-01"


class CustomerObject(ma.Schema):
    id = Integer()
    email = fields.String()
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    created_at = fields.DateTime()


class SubscriptionObject(ma.Schema):
    id = fields.UUID()
    customer_id = Integer(attribute="user_id")
    plan_id = fields.UUID()
    status = fields.String()
    current_period_start = fields.DateTime()
    current_period_end = fields.DateTime()
    trial_end = fields.DateTime(allow_none=True)
    cancel_at_period_end = fields.Boolean()
    canceled_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)


class InvoiceObject(ma.Schema):
    id = fields.UUID()
    customer_id = Integer(attribute="user_id")
    subscription_id = fields.UUID(allow_none=True)
    status = fields.String()
    reason = fields.String()
    currency = fields.String()
    amount_due_cents = Integer()
    amount_paid_cents = Integer()
    amount_refunded_cents = Integer()
    attempt_count = Integer()
    period_start = fields.DateTime(allow_none=True)
    period_end = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    voided_at = fields.DateTime(allow_none=True)


class PaymentObject(ma.Schema):
    """A payment result as the payment service reported it (its transaction)."""
    id = fields.String(attribute="transaction_id")
    customer_id = Integer(attribute="user_id")
    invoice_id = fields.String(allow_none=True)
    amount_cents = Integer()
    currency = fields.String()
    failure_reason = fields.String(allow_none=True)


class RefundObject(ma.Schema):
    id = fields.String(attribute="refund_id")
    transaction_id = fields.String()
    invoice_id = fields.String(allow_none=True)
    amount_cents = Integer()
    currency = fields.String()


class CreditNoteObject(ma.Schema):
    id = fields.UUID()
    invoice_id = fields.UUID()
    customer_id = Integer(attribute="user_id")
    subscription_id = fields.UUID(allow_none=True)
    refund_id = fields.String(allow_none=True)
    amount_cents = Integer()
    currency = fields.String()
    reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class _Redeemable(ma.Schema):
    """What coupons and promotion codes both have: an id, a switch and a count."""
    id = fields.UUID()
    active = fields.Boolean()
    max_redemptions = Integer(allow_none=True)
    times_redeemed = Integer()


class CouponObject(_Redeemable):
    name = fields.String()
    percent_off = Integer(allow_none=True)
    amount_off_cents = Integer(allow_none=True)
    currency = fields.String(allow_none=True)
    duration = fields.String()
    duration_in_periods = Integer(allow_none=True)


class PromotionCodeObject(_Redeemable):
    code = fields.String()
    coupon_id = fields.UUID()


class DiscountObject(ma.Schema):
    id = fields.UUID()
    subscription_id = fields.UUID()
    coupon_id = fields.UUID()
    promotion_code_id = fields.UUID(allow_none=True)
    start = fields.DateTime()
    periods_left = Integer(allow_none=True)


class EventData(ma.Schema):
    object_type = fields.String()
    object = fields.Dict()


class EventEnvelope(ma.Schema):
    """What is POSTed to an endpoint and what GET /v1/admin/events lists."""
    id = fields.String(metadata={"description": "evt_..., the same for every endpoint"})
    type = fields.String()
    api_version = fields.String(metadata={"example": API_VERSION})
    timestamp = fields.DateTime()
    data = fields.Nested(EventData)


SCHEMAS = {"customer": CustomerObject, "subscription": SubscriptionObject, "invoice": InvoiceObject,
           "payment": PaymentObject, "refund": RefundObject, "credit_note": CreditNoteObject,
           "coupon": CouponObject, "promotion_code": PromotionCodeObject, "discount": DiscountObject}
_BY_MODEL = {"User": "customer", "Subscription": "subscription", "Invoice": "invoice", "CreditNote": "credit_note",
             "Coupon": "coupon", "PromotionCode": "promotion_code", "Discount": "discount"}

_T = "2027-06-15T10:00:00+00:00"
_SUB, _INV = "5d0c6c9e-3f0a-4d8e-9d57-0f1f2a3b4c5d", "8f14e45f-ceea-467a-9575-3a2b1c0d9e8f"
_COUPON = "7d3c2a1e-8d7b-4c2a-9e61-2b7f1c0d9a44"
EXAMPLES = {
    "customer": {"id": 42, "email": "ada@example.com", "first_name": "Ada", "last_name": None, "created_at": _T},
    "subscription": {"id": _SUB, "customer_id": 42, "plan_id": "11111111-1111-4111-8111-111111111111",
                     "status": "active", "current_period_start": _T, "current_period_end": "2027-07-15T10:00:00+00:00",
                     "trial_end": None, "cancel_at_period_end": False, "canceled_at": None, "ended_at": None},
    "invoice": {"id": _INV, "customer_id": 42, "subscription_id": _SUB, "status": "paid",
                "reason": "subscription_create", "currency": "USD", "amount_due_cents": 2900,
                "amount_paid_cents": 2900, "amount_refunded_cents": 0, "attempt_count": 1, "period_start": _T,
                "period_end": "2027-07-15T10:00:00+00:00", "paid_at": _T, "voided_at": None},
    "payment": {"id": "b1946ac9-2492-4d2a-8f1e-6c5b4a392817", "customer_id": 42, "invoice_id": _INV,
                "amount_cents": 2900, "currency": "USD", "failure_reason": None},
    "refund": {"id": "re_7d793037", "transaction_id": "b1946ac9-2492-4d2a-8f1e-6c5b4a392817", "invoice_id": _INV,
               "amount_cents": 900, "currency": "USD"},
    "credit_note": {"id": "2c624232-cdd2-4177-a5a2-b0e5d5bb5a05", "invoice_id": _INV, "customer_id": 42,
                    "subscription_id": _SUB, "refund_id": "re_7d793037", "amount_cents": 900, "currency": "USD",
                    "reason": "requested_by_customer", "created_at": _T},
    "coupon": {"id": _COUPON, "name": "Welcome 20 %", "percent_off": 20, "amount_off_cents": None,
               "currency": None, "duration": "repeating", "duration_in_periods": 3, "active": False,
               "max_redemptions": 100, "times_redeemed": 12},
    "promotion_code": {"id": "0e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170", "code": "WELCOME20", "coupon_id": _COUPON,
                       "active": False, "max_redemptions": None, "times_redeemed": 12},
    "discount": {"id": "3f2e1d0c-9b8a-4776-8554-433221100fed", "subscription_id": _SUB, "coupon_id": _COUPON,
                 "promotion_code_id": "0e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170", "start": _T, "periods_left": 2},
}


def dump(obj, object_type: str | None = None) -> dict:
    """The payload of one object: a model instance, or the payment service's event data (a dict)."""
    kind = object_type or _BY_MODEL[type(obj).__name__]
    return SCHEMAS[kind]().dump(obj)


def register_components(spec) -> None:
    """The payload of each object type, and the envelope, in the OpenAPI components."""
    for kind, schema in SCHEMAS.items():
        name = "Webhook" + schema.__name__
        spec.components.schema(name, {"example": EXAMPLES[kind]}, schema=schema)
    spec.components.schema("WebhookEventEnvelope", {"example": {
        "id": "evt_0b5c7c1f2e9a4d3c8b6a5f4e3d2c1b0a", "type": "invoice.paid", "api_version": API_VERSION,
        "timestamp": _T, "data": {"object_type": "invoice", "object": EXAMPLES["invoice"]}}}, schema=EventEnvelope)
