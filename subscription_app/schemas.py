"""Request and response schemas of the subscription service's auth and plans."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from core.schemas import Integer, StrictBoolean, StrictSchema
from core.security import BCRYPT_MAX_BYTES

MIN_PASSWORD = 8
PASSWORD_RULE = f"Must be {MIN_PASSWORD} to {BCRYPT_MAX_BYTES} bytes in UTF-8."


def _check_password_bytes(value: str) -> None:
    """bcrypt reads only the first 72 bytes, so the rule is in bytes: one message for both ends."""
    if not MIN_PASSWORD <= len(value.encode()) <= BCRYPT_MAX_BYTES:
        raise ValidationError(PASSWORD_RULE)


def _password_field(**kwargs):
    return fields.String(required=True, load_only=True, validate=_check_password_bytes, **kwargs, metadata={
        "minLength": MIN_PASSWORD, "maxLength": BCRYPT_MAX_BYTES, "description": PASSWORD_RULE})


class RegisterSchema(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = _password_field()
    first_name = fields.String(validate=validate.Length(max=100), allow_none=True)
    last_name = fields.String(validate=validate.Length(max=100), allow_none=True)


class LoginSchema(StrictSchema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128))


class ChangePasswordSchema(StrictSchema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128))
    new_password = _password_field()


class LogoutSchema(StrictSchema):
    refresh_token = fields.String(validate=validate.Length(min=1, max=4096), metadata={
        "description": "This session's refresh token: its whole family (every rotation of this login) is revoked"})
    all_sessions = StrictBoolean(load_default=False, metadata={
        "description": "End every session of the user on both services (the token version, as a password change)"})


class UserSchema(StrictSchema):
    id = Integer(dump_only=True)
    email = fields.String(dump_only=True)
    first_name = fields.String(dump_only=True, allow_none=True)
    last_name = fields.String(dump_only=True, allow_none=True)
    role = fields.String(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class BalanceSchema(StrictSchema):
    currency = fields.String(dump_only=True, metadata={"example": "USD"})
    amount_cents = Integer(dump_only=True, metadata={"description": "Credit held, applied to the next invoices",
                                                     "example": 1250})


class MeSchema(UserSchema):
    balance = fields.List(fields.Nested(BalanceSchema), dump_only=True,
                          metadata={"description": "Customer credit per currency (docs/credit-balance.md)"})


class TokenSchema(StrictSchema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = Integer(required=True)


class RegisterResponseSchema(TokenSchema):
    user = fields.Nested(UserSchema)


class PlanFeatureSchema(StrictSchema):
    key = fields.String(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"enum": ["metered", "flag"]})
    value = fields.Raw(dump_only=True, allow_none=True, metadata={
        "description": "metered: the limit per period (null: unlimited); flag: true or false"})


class PlanSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True, allow_none=True)
    price_cents = Integer(dump_only=True)
    currency = fields.String(dump_only=True)
    billing_interval = fields.String(dump_only=True)
    interval_count = Integer(dump_only=True, metadata={
        "description": "Intervals per billing period: 1 to three years' worth (1095 days, 156 weeks, 36 months, "
                       "3 years)"})
    trial_days = Integer(dump_only=True)
    converts_to_plan_id = fields.UUID(dump_only=True, allow_none=True)
    feature_limits = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), dump_only=True, metadata={
        "description": "Feature key to value: a limit (null: unlimited) or a flag's true/false"})
    features = fields.List(fields.Nested(PlanFeatureSchema), dump_only=True)


class SubscriptionSummarySchema(StrictSchema):
    """The internal user summary's subscription (subscription_app.summaries)."""
    id = fields.UUID()
    plan_id = fields.UUID()
    plan_code = fields.String(allow_none=True)
    status = fields.String()
    is_active = fields.Boolean()
    current_period_start = fields.DateTime(allow_none=True)
    current_period_end = fields.DateTime(allow_none=True)
    billing_cycle_anchor = fields.DateTime(allow_none=True)
    trial_end = fields.DateTime(allow_none=True)
    cancel_at_period_end = fields.Boolean()
    payment_method_id = fields.UUID(allow_none=True)


class TokenVersionSchema(StrictSchema):
    """What the payment service's revocation check reads when its cache is cold (docs/auth.md)."""
    user_id = Integer()
    token_version = Integer()
    is_active = fields.Boolean()


class UserSummarySchema(StrictSchema):
    user_id = Integer()
    email = fields.String()
    role = fields.String()
    is_active = fields.Boolean()
    subscription = fields.Nested(SubscriptionSummarySchema, allow_none=True)
