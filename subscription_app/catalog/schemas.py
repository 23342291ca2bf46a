"""Request and response schemas of the admin catalog API (/v1/admin/plans, /features, /audit)."""
from __future__ import annotations

from marshmallow import fields, validate

from core.pagination import ListArgsSchema, ListPageSchema
from core.schemas import Currency, Integer, StrictBoolean, StrictSchema
from subscription_app.billing.periods import MAX_INTERVAL_COUNT
from subscription_app.catalog import audit
from subscription_app.catalog.models import FEATURE_KINDS
from subscription_app.schemas import PlanSchema
from subscription_app.usage import plan_pricing

LIMITS_DOC = {"description": "Feature key to value: a whole-number limit or null (unlimited) for a metered "
                             "feature, true or false for a flag.", "example": {"api_calls": 50000}}
TEAM = {"name": "Team", "price_cents": 4900, "currency": "USD", "billing_interval": "month",
        "feature_limits": {"api_calls": 50000}}
UPDATE_EXAMPLE = {"description": "For small teams.", "feature_limits": {"api_calls": 60000}}
FEATURE_EXAMPLE = {"key": "api_calls", "kind": "metered", "description": "API calls per billing period"}


PRICING_DOC = {"description": "Metered feature key to its pricing: included units, limit_mode hard|soft|unlimited, "
                              "model per_unit|package|graduated|volume, unit_amount_cents, package_size, tiers "
                              "[{up_to, unit_amount_cents, flat_amount_cents}] (docs/usage-billing.md).",
               "example": {"api_calls": {"included": 1000, "limit_mode": "soft", "model": "per_unit",
                                         "unit_amount_cents": 2}}}


def _pricing(**kwargs):
    # Checked field by field by usage.pricing.check_all, which names the failing path.
    return fields.Dict(keys=fields.String(), values=fields.Raw(), metadata=PRICING_DOC, **kwargs)


def _limits(**kwargs):
    # Values are checked against each feature's kind by catalog.features.check_limits.
    return fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), metadata=LIMITS_DOC, **kwargs)


class PlanCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    code = fields.String(validate=validate.Regexp(r"^[a-z0-9_]{1,64}$"),
                         metadata={"description": "Defaults to the name in snake case."})
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    price_cents = Integer(required=True, strict=True, validate=validate.Range(min=0))
    currency = Currency(load_default="USD")
    billing_interval = fields.String(load_default="month", validate=validate.OneOf(list(MAX_INTERVAL_COUNT)))
    interval_count = Integer(load_default=1, strict=True, validate=validate.Range(min=1))
    trial_days = Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=730))
    converts_to_plan_id = fields.UUID(allow_none=True)
    feature_limits = _limits(load_default=dict)
    usage_pricing = _pricing(load_default=dict)
    sort_order = Integer(load_default=0, strict=True)


class PlanUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    feature_limits = _limits()
    usage_pricing = _pricing()
    sort_order = Integer(strict=True)


class NewPriceSchema(StrictSchema):
    price_cents = Integer(required=True, strict=True, validate=validate.Range(min=0))


class MigrateSchema(StrictSchema):
    subscription_id = fields.UUID(allow_none=True, metadata={"description": "One subscriber; omit for all."})
    dry_run = StrictBoolean(load_default=False)


class PriceSchema(StrictSchema):
    id = fields.UUID()
    plan_id = fields.UUID()
    version = Integer()
    amount_cents = Integer()
    currency = fields.String()
    billing_interval = fields.String()
    interval_count = Integer()
    active = fields.Boolean()
    created_at = fields.DateTime()


class AdminPlanSchema(PlanSchema):
    is_active = fields.Boolean(dump_only=True, metadata={"description": "False once archived."})
    sort_order = Integer(dump_only=True)
    usage_pricing = fields.Function(lambda plan: plan_pricing.of(plan.id), dump_only=True, metadata=PRICING_DOC)


class MoveSchema(StrictSchema):
    subscription_id = fields.UUID()
    email = fields.String()
    old_amount_cents = Integer()
    new_amount_cents = Integer()
    currency = fields.String()
    effective_at = fields.DateTime()


class MigrationSchema(StrictSchema):
    plan_id = fields.UUID()
    price_id = fields.UUID()
    version = Integer()
    dry_run = fields.Boolean()
    count = Integer()
    subscriptions = fields.List(fields.Nested(MoveSchema))


class FeatureSchema(StrictSchema):
    key = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    kind = fields.String(required=True, validate=validate.OneOf(FEATURE_KINDS))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    created_at = fields.DateTime(dump_only=True)


class AuditArgsSchema(ListArgsSchema):
    object_type = fields.String(validate=validate.OneOf(audit.OBJECT_TYPES))
    object_id = fields.String(validate=validate.Length(max=64))


class AuditEventSchema(StrictSchema):
    id = Integer()
    actor_user_id = Integer(allow_none=True)
    source = fields.String()
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True)
    at = fields.DateTime()


class AuditPageSchema(ListPageSchema):
    items = fields.List(fields.Nested(AuditEventSchema))
