"""Request and response schemas of resume, pause, card updates and binding plan-change quotes."""
from __future__ import annotations

from datetime import timezone

from marshmallow import fields, validate

from core.schemas import Integer, StrictSchema
from subscription_app.billing.schemas import CardSchema

PRORATION_MODES = ("create_prorations", "none")


class PauseSchema(StrictSchema):
    at = fields.String(load_default="now", validate=validate.OneOf(("now", "period_end")), metadata={
        "description": "`now`, or `period_end` (the current paid period runs out first)", "example": "now"})
    resume_at = fields.AwareDateTime(default_timezone=timezone.utc, metadata={
        "description": "Resume automatically at this moment (UTC if no offset); without it, until resumed",
        "example": "2027-03-01T00:00:00+00:00"})


class PaymentMethodSchema(StrictSchema):
    card = fields.Nested(CardSchema, required=True, metadata={"example": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})


class PlanPreviewSchema(StrictSchema):
    plan_id = fields.UUID(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440003"})
    proration = fields.String(load_default="create_prorations", validate=validate.OneOf(PRORATION_MODES),
                              metadata={"description": "`create_prorations` (credit unused time, charge the "
                                                       "remaining time now) or `none` (nothing now, the new "
                                                       "price from the next renewal)"})


class QuoteLineSchema(StrictSchema):
    kind = fields.String(dump_only=True, metadata={"example": "proration_credit"})
    description = fields.String(dump_only=True)
    amount_cents = Integer(dump_only=True, metadata={"example": -1450})
    currency = fields.String(dump_only=True, metadata={"example": "USD"})
    plan_id = fields.UUID(dump_only=True, allow_none=True,
                          metadata={"description": "None on a credit_to_balance line"})


class QuoteSchema(StrictSchema):
    quote_id = fields.UUID(dump_only=True)
    subscription_id = fields.UUID(dump_only=True)
    plan_id = fields.UUID(dump_only=True)
    proration = fields.String(dump_only=True)
    currency = fields.String(dump_only=True, metadata={"example": "USD"})
    old_price_cents = Integer(dump_only=True, metadata={"example": 2900})
    new_price_cents = Integer(dump_only=True, metadata={"example": 9900})
    seconds_remaining = Integer(dump_only=True, metadata={"example": 1296000})
    seconds_in_period = Integer(dump_only=True, metadata={"example": 2592000})
    rounding = fields.String(dump_only=True, metadata={"example": "floor((new - old) * remaining / period)"})
    lines = fields.List(fields.Nested(QuoteLineSchema), dump_only=True)
    amount_due_now_cents = Integer(dump_only=True, metadata={"example": 3500, "description": (
        "The change invoice's total: what PUT .../plan with this quote bills")})
    applied_balance_cents = Integer(dump_only=True, metadata={"example": 0, "description": (
        "Of it, what the customer's held credit would pay if the change were made at the quote's moment; "
        "the card is charged the rest")})
    next_renewal_amount_cents = Integer(dump_only=True, metadata={"example": 9900})
    next_renewal_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
