"""Request and response schemas of the back office (admin customers, invoices and reports)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from core.pagination import ListArgsSchema, ListPageSchema
from core.schemas import Currency, Integer, PageArgsSchema, PageMetaSchema, StrictBoolean, StrictSchema
from subscription_app.billing.lifecycle_schemas import PRORATION_MODES
from subscription_app.billing.change_pricing import FULL_PRICE_NOW
from subscription_app.billing.schemas import CreditNoteSchema, InvoiceSchema, SubscriptionSchema
from subscription_app.catalog.schemas import AuditEventSchema
from subscription_app.discounts.schemas import DiscountSchema
from subscription_app.models import INVOICE_REASONS, INVOICE_STATUSES, SUBSCRIPTION_STATUSES
from subscription_app.schemas import BalanceSchema, UserSchema
from subscription_app.usage.schemas import CurrentPeriodStatsSchema

ADMIN_PRORATION_MODES = (*PRORATION_MODES, FULL_PRICE_NOW)
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 40, 500


def _dates_in_order(data: dict, start: str, end: str) -> None:
    if data.get(start) and data.get(end) and data[start] >= data[end]:
        raise ValidationError(f"Must be after {start}.", field_name=end)


class CustomerFilterSchema(StrictSchema):
    email_prefix = fields.String(validate=validate.Length(min=1, max=254))
    status = fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES),
                           metadata={"description": "Customers with a subscription in this status"})
    past_due = fields.Boolean(truthy={"true"}, falsy={"false"}, metadata={"description": "true or false"})
    created_from = fields.AwareDateTime()
    created_to = fields.AwareDateTime()

    @validates_schema
    def _order(self, data, **kwargs):
        _dates_in_order(data, "created_from", "created_to")


class CustomerArgsSchema(CustomerFilterSchema, ListArgsSchema):
    """The filters, and a cursor page (`limit`, `starting_after`) or an offset page (`page`, `per_page`)."""


class CustomerSchema(UserSchema):
    """A user as the operator sees them: the profile plus the operator's own links."""
    external_id = fields.String(dump_only=True, allow_none=True)
    metadata = fields.Dict(attribute="metadata_", keys=fields.String(), values=fields.String(), dump_only=True)


class CustomerPageSchema(ListPageSchema):
    items = fields.List(fields.Nested(CustomerSchema), dump_only=True)


class TransactionsSchema(StrictSchema):
    items = fields.List(fields.Dict(), dump_only=True, metadata={
        "description": "As the payment service's GET /v1/payments/transactions shows them"})
    error = fields.String(dump_only=True, allow_none=True,
                          metadata={"description": "Why the list is empty when the payment service did not answer"})


class CustomerDetailSchema(StrictSchema):
    customer = fields.Nested(CustomerSchema, dump_only=True)
    balance = fields.List(fields.Nested(BalanceSchema), dump_only=True,
                          metadata={"description": "Credit held per currency (docs/credit-balance.md)"})
    subscriptions = fields.List(fields.Nested(SubscriptionSchema), dump_only=True)
    discounts = fields.List(fields.Nested(DiscountSchema), dump_only=True,
                            metadata={"description": "Discounts still running on these subscriptions"})
    invoices = fields.List(fields.Nested(InvoiceSchema), dump_only=True)
    credit_notes = fields.List(fields.Nested(CreditNoteSchema), dump_only=True)
    audit = fields.List(fields.Nested(AuditEventSchema), dump_only=True)
    transactions = fields.Nested(TransactionsSchema, dump_only=True)
    usage = fields.Nested(CurrentPeriodStatsSchema, dump_only=True, allow_none=True, metadata={
        "description": "This billing period's metered features (used, limit, percent); null without an entitled "
                       "subscription"})


class CustomerUpdateSchema(StrictSchema):
    external_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=255))
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=METADATA_KEY_MAX)),
                           values=fields.String(validate=validate.Length(max=METADATA_VALUE_MAX)),
                           validate=validate.Length(max=METADATA_MAX_KEYS),
                           metadata={"description": f"Up to {METADATA_MAX_KEYS} string keys and values; "
                                                    "replaces the whole map"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("Give external_id and/or metadata.", field_name="external_id")


class InvoiceFilterSchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(INVOICE_STATUSES))
    customer_id = Integer(validate=validate.Range(min=1))
    reason = fields.String(validate=validate.OneOf(INVOICE_REASONS))
    period_from = fields.AwareDateTime(metadata={"description": "Created at or after"})
    period_to = fields.AwareDateTime(metadata={"description": "Created before"})

    @validates_schema
    def _order(self, data, **kwargs):
        _dates_in_order(data, "period_from", "period_to")


class InvoiceArgsSchema(InvoiceFilterSchema, PageArgsSchema):
    pass


class AdminInvoiceSchema(InvoiceSchema):
    customer_id = Integer(attribute="user_id", dump_only=True)


class AdminInvoicePageSchema(StrictSchema):
    items = fields.List(fields.Nested(AdminInvoiceSchema), dump_only=True)
    meta = fields.Nested(PageMetaSchema, dump_only=True)


class CreditNoteRequestSchema(StrictSchema):
    amount_cents = Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "Minor units of the invoice's currency; the whole creditable amount when left out"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))
    refund = StrictBoolean(load_default=False, validate=validate.Equal(
        False, error="Only false here: a refund of the payment is POST /v1/admin/invoices/{{id}}/refunds."),
        metadata={"description": "false: the amount goes to the customer balance (docs/credit-balance.md)"})


class PlanCountSchema(StrictSchema):
    plan_id = fields.UUID()
    code = fields.String()
    active = Integer()
    trialing = Integer()


class MonthAmountSchema(StrictSchema):
    month = fields.String(metadata={"example": "2026-11"})
    currency = fields.String()
    cents = Integer()


class OutstandingSchema(StrictSchema):
    currency = fields.String()
    open_cents = Integer()
    past_due_cents = Integer(metadata={"description": "Open invoices of past-due subscriptions"})


class DunningSchema(StrictSchema):
    subscriptions = Integer()
    next_attempt_at = fields.DateTime(allow_none=True)


class SummarySchema(StrictSchema):
    as_of = fields.DateTime()
    month = fields.String(metadata={"example": "2026-12"})
    mrr = fields.Dict(keys=fields.String(), values=Integer(), metadata={"example": {"USD": 123400}})
    subscribers_per_plan = fields.List(fields.Nested(PlanCountSchema))
    new_this_month = Integer()
    churned_this_month = Integer()
    collected = fields.List(fields.Nested(MonthAmountSchema))
    refunded = fields.List(fields.Nested(MonthAmountSchema))
    outstanding = fields.List(fields.Nested(OutstandingSchema))
    dunning = fields.Nested(DunningSchema)


class AdminCancelSchema(StrictSchema):
    at_period_end = StrictBoolean(load_default=False, metadata={"description": "false: now; true: at the period end"})


class AdminChangePlanSchema(StrictSchema):
    plan_id = fields.UUID(required=True)
    proration = fields.String(load_default="create_prorations", validate=validate.OneOf(ADMIN_PRORATION_MODES),
                              metadata={"description": "`create_prorations` (charge the remaining time now), "
                                                       "`none` (the new price from the next renewal) or "
                                                       "`full_price_now` (the new plan's full price now, no credit "
                                                       "for unused time, a new period from the payment); "
                                                       "docs/plan-changes.md"})


class SubscriptionArgsSchema(ListArgsSchema):
    status = fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES))
    plan_id = fields.UUID()
    email_prefix = fields.String(validate=validate.Length(min=1, max=254),
                                 metadata={"description": "The customer's email starts with this (case-insensitive)"})


class AdminSubscriptionSchema(SubscriptionSchema):
    customer_id = Integer(attribute="user_id", dump_only=True)


class AdminSubscriptionPageSchema(ListPageSchema):
    items = fields.List(fields.Nested(AdminSubscriptionSchema), dump_only=True)


class ExtendTrialSchema(StrictSchema):
    trial_end = fields.AwareDateTime(required=True, metadata={"example": "2027-01-15T00:00:00+00:00"})


class ChargeSchema(StrictSchema):
    amount_cents = Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000_000),
                           metadata={"description": "Minor units of `currency`"})
    currency = Currency(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200),
                           metadata={"description": "Shown on the invoice line and the card statement"})


class RefundRequestedSchema(StrictSchema):
    invoice_id = fields.UUID(dump_only=True)
    transaction_id = fields.UUID(dump_only=True)
    amount_cents = Integer(dump_only=True)
    currency = fields.String(dump_only=True)
    reason = fields.String(dump_only=True)
    request_id = fields.String(dump_only=True, metadata={"description": "The payment service dedupes by it"})
