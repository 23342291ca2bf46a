"""Admin API schemas of the integrator webhooks (the payloads themselves are in payloads.py)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.schemas import Integer, StrictBoolean, StrictSchema
from subscription_app.integrations.events import EVENT_TYPES
from subscription_app.integrations.models import DELIVERY_STATUSES

EVENT_TYPE = fields.String(validate=validate.OneOf(EVENT_TYPES))
WEEK = 7 * 86400


class EndpointCreateSchema(StrictSchema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    event_types = fields.List(EVENT_TYPE, load_default=list, validate=validate.Length(max=len(EVENT_TYPES)),
                              metadata={"description": "Empty: every event type"})
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))


class EndpointUpdateSchema(StrictSchema):
    url = fields.String(validate=validate.Length(min=1, max=2048))
    event_types = fields.List(EVENT_TYPE, validate=validate.Length(max=len(EVENT_TYPES)))
    description = fields.String(allow_none=True, validate=validate.Length(max=500))
    enabled = StrictBoolean()


class EndpointSchema(ma.Schema):
    id = fields.UUID()
    url = fields.String()
    description = fields.String(allow_none=True)
    event_types = fields.List(fields.String())
    enabled = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    failing_since = fields.DateTime(allow_none=True)
    previous_secret_expires_at = fields.DateTime(attribute="previous_expires_at", allow_none=True)
    created_at = fields.DateTime()


class EndpointWithSecretSchema(EndpointSchema):
    """Only on create and rotate: the secret is shown once."""
    secret = fields.String(metadata={"description": "whsec_<base64>; store it now, it is not shown again"})


class EndpointListSchema(ma.Schema):
    items = fields.List(fields.Nested(EndpointSchema))


class RotateSchema(StrictSchema):
    overlap_seconds = Integer(load_default=86400, validate=validate.Range(min=0, max=WEEK),
                              metadata={"description": "How long the previous secret keeps signing beside the new one"})


class DeliveryArgsSchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    limit = Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AttemptSchema(ma.Schema):
    attempted_at = fields.DateTime()
    status_code = Integer(allow_none=True)
    latency_ms = Integer()
    response_snippet = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)


class DeliverySchema(ma.Schema):
    id = fields.String(metadata={"description": "msg_..., sent as webhook-id"})
    event_id = fields.String()
    endpoint_id = fields.UUID()
    status = fields.String()
    attempts = Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = Integer(allow_none=True)
    last_latency_ms = Integer(allow_none=True)
    last_response_snippet = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()


class DeliveryListSchema(ma.Schema):
    items = fields.List(fields.Nested(DeliverySchema))


class ReplaySinceSchema(StrictSchema):
    since = fields.AwareDateTime(required=True, metadata={"description": "Failed deliveries created since then"})


class ReplayEventSchema(StrictSchema):
    endpoint_id = fields.UUID(required=True)


class ReplayedSchema(ma.Schema):
    replayed = Integer()


class EventArgsSchema(StrictSchema):
    starting_after = fields.String(validate=validate.Length(min=1, max=40))
    limit = Integer(load_default=20, validate=validate.Range(min=1, max=100))
    type = EVENT_TYPE
    object_id = fields.String(validate=validate.Length(min=1, max=64))
    created_gte = fields.AwareDateTime()
    created_lte = fields.AwareDateTime()


class EventSchema(ma.Schema):
    id = fields.String()
    type = fields.String()
    api_version = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    created_at = fields.DateTime()
    payload = fields.Dict(metadata={"description": "Exactly the body POSTed to endpoints (WebhookEventEnvelope)"})


class EventPageSchema(ma.Schema):
    items = fields.List(fields.Nested(EventSchema))
    has_more = fields.Boolean()
