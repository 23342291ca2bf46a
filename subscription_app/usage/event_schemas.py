"""Schemas of POST /v1/usage/events and of /v1/admin/api-keys."""
from __future__ import annotations

from flask import current_app
from marshmallow import ValidationError, fields, validate, validates

from core.schemas import Integer, StrictSchema
from subscription_app.usage.schemas import FEATURE_NAME

MAX_BATCH = 1000
EXTERNAL_ID_MAX = 255  # users.external_id


class CustomerRef(fields.Field):
    """A JSON number is a user id, a JSON string an external_id (even "42"): the type decides, never a guess."""

    default_error_messages = {"invalid": "Must be a user id (a number) or an external_id (a string of 1 to "
                                         f"{EXTERNAL_ID_MAX} characters)."}
    _user_id = Integer(strict=True, validate=validate.Range(min=1))

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[str, int | str]:
        if isinstance(value, str):
            if not 1 <= len(value) <= EXTERNAL_ID_MAX:
                raise self.make_error("invalid")
            return "external_id", value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return "id", self._user_id.deserialize(value)


class EventSchema(StrictSchema):
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    customer = CustomerRef(required=True, metadata={"description": "The customer: its user id (a number) or its "
                                                                   "external_id (a string)"})
    feature = fields.String(required=True, validate=validate.Regexp(FEATURE_NAME))
    quantity = Integer(required=True, strict=True)
    timestamp = fields.AwareDateTime(required=True, metadata={"description": "When it happened (ISO 8601, with zone)"})

    @validates("quantity")
    def _bounded(self, value, **kwargs):
        bound = current_app.config["SETTINGS"].usage_max_delta
        if not 1 <= value <= bound:
            raise ValidationError(f"Must be between 1 and {bound}.")


class BatchSchema(StrictSchema):
    # Each event is checked on its own, so one bad event is a per-event rejection, not a 422.
    events = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


class EventResultSchema(StrictSchema):
    event_id = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["accepted", "duplicate", "rejected"]})
    reason = fields.String(metadata={"enum": ["invalid", "in_future", "period_closed", "unknown_customer",
                                              "not_entitled", "unknown_feature", "limit_exceeded",
                                              "unavailable"]})
    message = fields.String()
    errors = fields.Dict()


class BatchResultSchema(StrictSchema):
    results = fields.List(fields.Nested(EventResultSchema))
    accepted = Integer()
    duplicate = Integer()
    rejected = Integer()


class ApiKeyCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ApiKeySchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    prefix = fields.String(dump_only=True, metadata={"description": "The key's first characters, to recognise it"})
    created_by = Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)


class NewApiKeySchema(ApiKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "Shown once: only its SHA-256 is kept"})
