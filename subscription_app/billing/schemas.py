"""Request and response schemas of subscriptions, invoices, payment webhooks and the admin clock."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from core.cards import CardSchema
from core.pagination import ListPageSchema
from core.schemas import Integer, StrictSchema
from subscription_app.discounts.schemas import DiscountSchema


class CreateSubscriptionSchema(StrictSchema):
    plan_id = fields.UUID(required=True)
    card = fields.Nested(CardSchema)
    payment_method_id = fields.UUID()
    promotion_code = fields.String(validate=validate.Length(min=1, max=64),
                                   metadata={"description": "A customer-facing code (any case)",
                                             "example": "WELCOME20"})

    @validates_schema
    def _one_way_to_pay(self, data, **kwargs):
        if "card" in data and "payment_method_id" in data:
            raise ValidationError("Give a card or a payment_method_id, not both.", field_name="card")


class TrialSchema(StrictSchema):
    trial_plan_id = fields.UUID(required=True)
    card = fields.Nested(CardSchema)


class ChangePlanSchema(StrictSchema):
    plan_id = fields.UUID(required=True)
    quote_id = fields.UUID(metadata={"description": "From POST .../plan/preview: bill exactly the quoted amount, "
                                                    "or 409 if it expired or the subscription changed since"})
    trial_end = fields.String(validate=validate.OneOf(("now",)), metadata={
        "description": "During a trial, to a plan without one: `now` ends the trial and charges the new plan "
                       "now; without it the trial runs out and converts to the new plan"})


class CancelArgsSchema(StrictSchema):
    at_period_end = fields.Boolean(load_default=False)


class InvoiceLineSchema(StrictSchema):
    id = Integer(dump_only=True)
    kind = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    amount_cents = Integer(dump_only=True)
    currency = fields.String(dump_only=True)
    plan_id = fields.UUID(dump_only=True, allow_none=True)
    period_start = fields.DateTime(dump_only=True, allow_none=True)
    period_end = fields.DateTime(dump_only=True, allow_none=True)
    feature = fields.String(dump_only=True, allow_none=True, metadata={"description": "Usage lines only"})
    quantity = Integer(dump_only=True, allow_none=True, metadata={"description": "Units used in the period"})
    included = Integer(dump_only=True, allow_none=True)
    billable = Integer(dump_only=True, allow_none=True)
    pricing = fields.Dict(dump_only=True, allow_none=True,
                          metadata={"description": "The feature's pricing and how the amount was reached"})


class UpcomingInvoiceSchema(StrictSchema):
    subscription_id = fields.UUID(dump_only=True)
    reason = fields.String(dump_only=True, metadata={
        "enum": ["subscription_cycle", "trial_conversion", "subscription_final"],
        "description": "The invoice the period end makes: a renewal, a trial's conversion, or an ending "
                       "subscription's last usage"})
    currency = fields.String(dump_only=True)
    period_start = fields.DateTime(dump_only=True)
    period_end = fields.DateTime(dump_only=True)
    usage_as_of = fields.DateTime(dump_only=True)
    lines = fields.List(fields.Nested(InvoiceLineSchema), dump_only=True)
    subtotal_cents = Integer(dump_only=True, metadata={"description": "Plan and usage, before discount and credit",
                                                       "example": 1900})
    discount_cents = Integer(dump_only=True, metadata={"description": "What the discount line takes off",
                                                       "example": 180})
    total_cents = Integer(dump_only=True, metadata={"example": 1720})
    credit_balance_cents = Integer(dump_only=True, metadata={
        "description": "Credit the customer holds now in this currency", "example": 500})
    applied_balance_cents = Integer(dump_only=True, metadata={
        "description": "Of it, what the renewal spends (at most the total)", "example": 500})
    amount_due_cents = Integer(dump_only=True, metadata={"description": "What the card will be charged",
                                                         "example": 1220})


class InvoiceSummarySchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    number = Integer(dump_only=True)
    subscription_id = fields.UUID(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True)
    reason = fields.String(dump_only=True)
    currency = fields.String(dump_only=True)
    amount_due_cents = Integer(dump_only=True)
    amount_paid_cents = Integer(dump_only=True)
    amount_refunded_cents = Integer(dump_only=True)
    attempt_count = Integer(dump_only=True)
    period_start = fields.DateTime(dump_only=True, allow_none=True)
    period_end = fields.DateTime(dump_only=True, allow_none=True)
    transaction_id = fields.UUID(dump_only=True, allow_none=True)
    paid_at = fields.DateTime(dump_only=True, allow_none=True)
    voided_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class CreditNoteLineSchema(StrictSchema):
    id = Integer(dump_only=True)
    kind = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    amount_cents = Integer(dump_only=True)
    currency = fields.String(dump_only=True)


class CreditNoteSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    number = fields.String(attribute="display_number", dump_only=True, metadata={"example": "CN-000001"})
    invoice_id = fields.UUID(dump_only=True)
    subscription_id = fields.UUID(dump_only=True, allow_none=True)
    refund_id = fields.String(dump_only=True, allow_none=True,
                              metadata={"description": "The payment service's refund; null: credited to the balance"})
    transaction_id = fields.UUID(dump_only=True, allow_none=True)
    amount_cents = Integer(dump_only=True)
    currency = fields.String(dump_only=True)
    reason = fields.String(dump_only=True, allow_none=True)
    lines = fields.List(fields.Nested(CreditNoteLineSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class CreditNotePageSchema(ListPageSchema):
    items = fields.List(fields.Nested(CreditNoteSchema), dump_only=True)


class InvoiceSchema(InvoiceSummarySchema):
    lines = fields.List(fields.Nested(InvoiceLineSchema), dump_only=True)
    credit_notes = fields.List(fields.Nested(CreditNoteSchema), dump_only=True,
                               metadata={"description": "One per refund (their sum is amount_refunded_cents), or "
                                                        "credit to the customer balance (refund_id null)"})


class SubscriptionEventSchema(StrictSchema):
    id = Integer(dump_only=True)
    type = fields.String(dump_only=True, metadata={"enum": [
        "refund", "canceled", "cancel_undone", "pause_scheduled", "pause_undone", "paused", "resumed",
        "payment_method_updated", "plan_changed_in_trial", "trial_will_end", "trial_extended", "discount_deleted"]})
    details = fields.Dict(dump_only=True)
    at = fields.DateTime(dump_only=True)


class SubscriptionEventPageSchema(ListPageSchema):
    items = fields.List(fields.Nested(SubscriptionEventSchema), dump_only=True)


class SubscriptionSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    plan_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True)
    current_period_start = fields.DateTime(dump_only=True)
    current_period_end = fields.DateTime(dump_only=True)
    billing_cycle_anchor = fields.DateTime(dump_only=True, metadata={
        "description": "Where the paid billing cycle started: periods end at this moment plus whole intervals, "
                       "clamped to a shorter month's last day (Jan 31 -> Feb 28 -> Mar 31)"})
    trial_start = fields.DateTime(dump_only=True, allow_none=True)
    trial_end = fields.DateTime(dump_only=True, allow_none=True)
    cancel_at_period_end = fields.Boolean(dump_only=True)
    canceled_at = fields.DateTime(dump_only=True, allow_none=True)
    ended_at = fields.DateTime(dump_only=True, allow_none=True)
    pending_plan_id = fields.UUID(dump_only=True, allow_none=True)
    payment_method_id = fields.UUID(dump_only=True, allow_none=True)
    failed_payment_attempts = Integer(dump_only=True)
    next_payment_attempt_at = fields.DateTime(dump_only=True, allow_none=True)
    paused_at = fields.DateTime(dump_only=True, allow_none=True)
    resume_at = fields.DateTime(dump_only=True, allow_none=True)
    pause_at_period_end = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    latest_invoice = fields.Nested(InvoiceSchema, dump_only=True, allow_none=True)
    discount = fields.Nested(DiscountSchema, dump_only=True, allow_none=True, metadata={
        "description": "The discount later plan invoices get (docs/discounts.md); null: none or used up"})


class SubscriptionPageSchema(ListPageSchema):
    items = fields.List(fields.Nested(SubscriptionSchema), dump_only=True)


class InvoicePageSchema(ListPageSchema):
    items = fields.List(fields.Nested(InvoiceSchema), dump_only=True)


class WebhookAckSchema(StrictSchema):
    received = fields.Boolean(dump_only=True)
    processed = fields.Boolean(dump_only=True)
    duplicate = fields.Boolean(dump_only=True)
    event_id = fields.String(dump_only=True)


class WebhookBatchResultSchema(WebhookAckSchema):
    event_id = fields.String(dump_only=True, allow_none=True)
    status = Integer(dump_only=True,
                     metadata={"description": "What POST /v1/webhooks/payment would have answered for it"})
    message = fields.String(dump_only=True)
    errors = fields.Dict(dump_only=True)


class WebhookBatchAnswerSchema(StrictSchema):
    results = fields.List(fields.Nested(WebhookBatchResultSchema), dump_only=True)


class ClockAdvanceSchema(StrictSchema):
    # Forward only: going back would make renewals and dunning meet moments they already passed.
    advance_seconds = Integer(required=True, strict=True, validate=validate.Range(
        min=0, max=10 * 366 * 86400,
        error="Must be between {min} and {max} seconds: the clock only moves forward "
              "(`flask clock reset` goes back to real time)."))


class ClockSchema(StrictSchema):
    now = fields.DateTime(dump_only=True)
    offset_seconds = fields.Float(dump_only=True)


class InternalInvoiceSchema(StrictSchema):
    """What the payment service may know about an invoice (invoices.internal_view)."""
    id = fields.UUID()
    user_id = Integer()
    subscription_id = fields.UUID(allow_none=True)
    status = fields.String()
    amount_due_cents = Integer()
    amount_paid_cents = Integer()
    currency = fields.String()
    refund_can_end_subscription = fields.Boolean(metadata={
        "description": "A full refund of its payment ends the subscription: the current period's invoice "
                       "of a live subscription (docs/refunds.md)"})
