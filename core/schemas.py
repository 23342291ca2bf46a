"""Marshmallow schemas shared by both services (health, pagination, money)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.extensions import db
from core.money import is_currency

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


class Integer(fields.Integer):
    """An integer PostgreSQL's bigint can hold: a larger one is a 422 naming the field, not a DataError."""

    default_error_messages = {"bigint": f"Must be between {BIGINT_MIN} and {BIGINT_MAX}."}

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if not BIGINT_MIN <= number <= BIGINT_MAX:
            raise self.make_error("bigint")
        return number


CURRENCY_ERROR = "Must be an ISO 4217 currency code like USD."


def _check_currency(code: str) -> None:
    if not is_currency(code):
        raise ma.ValidationError(CURRENCY_ERROR)


def Currency(**kwargs) -> fields.String:  # noqa: N802 - a field factory, read like a field class
    """An ISO 4217 code (core.money's maintained table): USD passes, usd or XYZ is a 422 naming the field."""
    return fields.String(validate=_check_currency, metadata={"pattern": "^[A-Z]{3}$", "example": "USD"}, **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON true or false only: 1, "yes" or null is a 422 (marshmallow's documented custom-field hook)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictSchema(ma.Schema):
    """Unknown fields are an error (422), so nobody sets role, status or owner by accident."""

    class Meta:
        unknown = ma.RAISE


class CheckSchema(ma.Schema):
    status = fields.String(required=True)
    latency_ms = fields.Float()
    error = fields.String()
    queues = fields.Dict()


class HealthSchema(ma.Schema):
    status = fields.String(required=True)
    service = fields.String(required=True)


class DetailedHealthSchema(HealthSchema):
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema))


class QueueStatSchema(ma.Schema):
    depth = Integer()
    failed = Integer()
    workers = Integer()


class QueuesHealthSchema(HealthSchema):
    class Meta:
        unknown = ma.INCLUDE

    queues = fields.Dict(keys=fields.String(), values=fields.Nested(QueueStatSchema))
    error = fields.String()
    periodic_jobs = fields.Dict()


class PageArgsSchema(StrictSchema):
    page = Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PageMetaSchema(ma.Schema):
    page = Integer()
    per_page = Integer()
    total = Integer()
    pages = Integer()


def paginate(select_stmt, page: int, per_page: int) -> dict:
    """The one pagination helper: {items, meta} from a SQLAlchemy select."""
    result = db.paginate(select_stmt, page=page, per_page=per_page, error_out=False)
    return {"items": result.items,
            "meta": {"page": page, "per_page": per_page, "total": result.total, "pages": result.pages}}
