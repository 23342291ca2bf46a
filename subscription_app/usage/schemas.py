"""Request and response schemas of /v1/usage."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app
from marshmallow import ValidationError, fields, validate, validates

from core.schemas import Integer, StrictSchema

FEATURE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class UseSchema(StrictSchema):
    # strict: "1", 1.5, true are refused, not coerced
    delta = Integer(required=True, strict=True,
                           metadata={"description": "Units to consume, 1..USAGE_MAX_DELTA (default 10000)"})

    @validates("delta")
    def _bounded(self, value, **kwargs):
        bound = current_app.config["SETTINGS"].usage_max_delta
        if not 1 <= value <= bound:
            raise ValidationError(f"Must be between 1 and {bound}.")


class ResetSchema(StrictSchema):
    user_id = Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**63 - 1))
    feature = fields.String(validate=validate.Regexp(FEATURE_NAME), load_default=None)


class FeatureUsageSchema(ma.Schema):
    feature = fields.String()
    used = Integer()
    limit = Integer(allow_none=True, metadata={"description": "null: no cap"})
    remaining = Integer(allow_none=True)
    period_start = fields.DateTime()
    period_end = fields.DateTime(metadata={"description": "When the counter resets (next period)"})


class UseResultSchema(FeatureUsageSchema):
    replayed = fields.Boolean(metadata={"description": "true: an Idempotency-Key replay, nothing counted"})


class UsageSchema(ma.Schema):
    period_start = fields.DateTime()
    period_end = fields.DateTime()
    features = fields.List(fields.Nested(FeatureUsageSchema))


class ResetFeatureSchema(ma.Schema):
    feature = fields.String()
    previous_used = Integer()


class ResetResultSchema(ma.Schema):
    user_id = Integer()
    period_start = fields.DateTime()
    period_end = fields.DateTime()
    reset = fields.List(fields.Nested(ResetFeatureSchema))


class FeatureStatSchema(ma.Schema):
    feature = fields.String()
    used = Integer()
    limit = Integer(allow_none=True)
    percent = fields.Float(allow_none=True)


class CurrentPeriodStatsSchema(ma.Schema):
    period_start = fields.DateTime()
    period_end = fields.DateTime()
    features = fields.List(fields.Nested(FeatureStatSchema))


class PastPeriodSchema(ma.Schema):
    period_start = fields.DateTime()
    period_end = fields.DateTime()
    features = fields.Dict(keys=fields.String(), values=Integer())


class StatsSchema(ma.Schema):
    current_period = fields.Nested(CurrentPeriodStatsSchema, allow_none=True,
                                   metadata={"description": "null without an entitled subscription"})
    past_totals = fields.Dict(keys=fields.String(), values=Integer(),
                              metadata={"description": "Sum per feature over all past periods"})
    past_period_count = Integer()
    past_periods = fields.List(fields.Nested(PastPeriodSchema), metadata={"description": "Newest first, at most 12"})
