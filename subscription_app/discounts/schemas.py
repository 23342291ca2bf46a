"""Admin schemas of coupons and promotion codes: one kind of discount, periods only when repeating."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from core.schemas import Currency, Integer, StrictBoolean, StrictSchema
from subscription_app.discounts.models import DURATIONS

TZ_AWARE = {"format": "iso", "timezone": "UTC"}
COUPON_EXAMPLE = {"name": "Welcome 20 %", "percent_off": 20, "duration": "repeating", "duration_in_periods": 3,
                  "max_redemptions": 100}
CODE_EXAMPLE = {"code": "WELCOME20", "coupon_id": "7d3c2a1e-8d7b-4c2a-9e61-2b7f1c0d9a44", "once_per_customer": True}


class CouponCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    percent_off = Integer(validate=validate.Range(min=1, max=100))
    amount_off_cents = Integer(validate=validate.Range(min=1))
    currency = Currency()
    duration = fields.String(required=True, validate=validate.OneOf(DURATIONS))
    duration_in_periods = Integer(validate=validate.Range(min=1, max=1200))
    max_redemptions = Integer(validate=validate.Range(min=1, max=2**31 - 1))
    redeem_by = fields.AwareDateTime(default_timezone=None)
    applies_to_plan_ids = fields.List(fields.UUID(), validate=validate.Length(max=100))

    @validates_schema
    def _one_kind(self, data, **kwargs):
        if ("percent_off" in data) == ("amount_off_cents" in data):
            raise ValidationError("Give percent_off or amount_off_cents, exactly one.", field_name="percent_off")
        if ("amount_off_cents" in data) != ("currency" in data):
            raise ValidationError("amount_off_cents needs a currency, and only it does.", field_name="currency")
        if (data.get("duration") == "repeating") != ("duration_in_periods" in data):
            raise ValidationError("Required with duration repeating, and only with it.",
                                  field_name="duration_in_periods")


class CouponTermsSchema(StrictSchema):
    """What the customer may see of a coupon: its terms, not its limits."""
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    percent_off = Integer(dump_only=True, allow_none=True)
    amount_off_cents = Integer(dump_only=True, allow_none=True)
    currency = fields.String(dump_only=True, allow_none=True)
    duration = fields.String(dump_only=True)
    duration_in_periods = Integer(dump_only=True, allow_none=True)


class CouponSchema(CouponTermsSchema):
    """The operator's view: the terms plus the limits and the count."""
    active = fields.Boolean(dump_only=True, metadata={"description": "False: no code redeems it any more"})
    max_redemptions = Integer(dump_only=True, allow_none=True)
    times_redeemed = Integer(dump_only=True)
    redeem_by = fields.DateTime(dump_only=True, allow_none=True)
    applies_to_plan_ids = fields.List(fields.String(), dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class PromotionCodeCreateSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{3,64}$",
                                                                 error="3 to 64 letters, digits, - or _."))
    coupon_id = fields.UUID(required=True)
    max_redemptions = Integer(validate=validate.Range(min=1, max=2**31 - 1))
    expires_at = fields.AwareDateTime(default_timezone=None)
    once_per_customer = StrictBoolean(load_default=False)


class PromotionCodeSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    code = fields.String(dump_only=True)
    coupon_id = fields.UUID(dump_only=True)
    active = fields.Boolean(dump_only=True)
    max_redemptions = Integer(dump_only=True, allow_none=True)
    times_redeemed = Integer(dump_only=True)
    expires_at = fields.DateTime(dump_only=True, allow_none=True)
    once_per_customer = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ApplyCodeSchema(StrictSchema):
    promotion_code = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                   metadata={"example": "WELCOME20"})


class DiscountSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    subscription_id = fields.UUID(dump_only=True)
    promotion_code_id = fields.UUID(dump_only=True, allow_none=True)
    coupon = fields.Nested(CouponTermsSchema, dump_only=True)
    start = fields.DateTime(dump_only=True)
    periods_left = Integer(dump_only=True, allow_none=True,
                           metadata={"description": "Plan invoices it still applies to; null: forever"})



class DeletedDiscountSchema(DiscountSchema):
    deleted = fields.Constant(True, dump_only=True, metadata={"description": "Always true, as Stripe answers"})


class ActiveSchema(StrictSchema):
    active = StrictBoolean(required=True, metadata={
        "description": "false: no new redemption (existing discounts keep going); true: redeemable again",
        "example": False})
