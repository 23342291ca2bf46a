"""Request and response schemas of the payment service.

Responses never carry a card number or a gateway token: a payment method shows
brand, last4 and expiry only.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from core import cards
from core.pagination import ListPageSchema
from core.schemas import Currency, Integer, StrictBoolean, StrictSchema

MAX_AMOUNT_CENTS = 100_000_000  # 1,000,000.00 in a two-decimal currency: above that, talk to sales
MAX_BIGINT = 2**63 - 1


class CardSchema(cards.CardSchema):
    """The shared check, loaded into a cards.Card for the gateway."""

    @post_load
    def _to_card(self, data, **kwargs):
        card, _ = cards.validate_card(data["number"], data["exp_month"], data["exp_year"], data["cvc"])
        return card


class ProcessPaymentSchema(StrictSchema):
    """Either {invoice_id} (the invoice sets the amount) or {amount_cents, currency, description?};
    and either {card} or {payment_method_id}."""
    invoice_id = fields.UUID()
    amount_cents = Integer(strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT_CENTS))
    currency = Currency()
    description = fields.String(validate=validate.Length(max=255))
    card = fields.Nested(CardSchema)
    payment_method_id = fields.UUID()

    @validates_schema
    def _one_of_each(self, data, **kwargs):
        errors = {}
        if ("card" in data) == ("payment_method_id" in data):
            errors["card"] = ["Give either card or payment_method_id (exactly one)."]
        if "invoice_id" in data:
            for name in ("amount_cents", "currency", "description"):
                if name in data:
                    errors[name] = ["Not allowed with invoice_id: the invoice sets the amount."]
        elif "amount_cents" not in data:
            errors["invoice_id"] = ["Give invoice_id, or amount_cents and currency."]
        elif "currency" not in data:
            errors["currency"] = ["Missing data for required field."]
        if errors:
            raise ValidationError(errors)


class RefundRequestSchema(StrictSchema):
    amount_cents = Integer(strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT_CENTS))
    reason = fields.String(validate=validate.Length(max=255))
    keep_subscription = StrictBoolean(load_default=False, metadata={
        "description": "A full refund of an invoice's payment ends its subscription at once unless this is true"})


class PaymentMethodSchema(ma.Schema):
    id = fields.UUID()
    user_id = Integer()
    brand = fields.String()
    last4 = fields.String()
    exp_month = Integer()
    exp_year = Integer()
    created_at = fields.DateTime()


class RefundSchema(ma.Schema):
    id = fields.UUID()
    transaction_id = fields.UUID()
    amount_cents = Integer()
    currency = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    keep_subscription = fields.Boolean()
    subscription_effect = fields.String(metadata={
        "enum": ["canceled", "kept", "none"],
        "description": "What happens to the invoice's subscription when the refund succeeds"})
    requested_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TransactionSchema(ma.Schema):
    id = fields.UUID()
    kind = fields.String()
    status = fields.String()
    amount_cents = Integer()
    currency = fields.String()
    refunded_cents = Integer()
    description = fields.String(allow_none=True)
    invoice_id = fields.UUID(allow_none=True)
    subscription_id = fields.UUID(allow_none=True)
    payment_method_id = fields.UUID(allow_none=True)
    card_brand = fields.String(allow_none=True)
    card_last4 = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    refunds = fields.List(fields.Nested(RefundSchema))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TransactionPageSchema(ListPageSchema):
    items = fields.List(fields.Nested(TransactionSchema))


# --- internal API --------------------------------------------------------------------------------

class NewPaymentMethodSchema(StrictSchema):
    user_id = Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_BIGINT))
    card = fields.Nested(CardSchema, required=True)


class ChargeRequestedDataSchema(ma.Schema):
    """Tolerant of fields it does not know: the other service may add some without breaking delivery."""
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=255))
    user_id = Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_BIGINT))
    invoice_id = fields.UUID(allow_none=True)
    subscription_id = fields.UUID(allow_none=True)
    payment_method_id = fields.UUID(allow_none=True)
    amount_cents = Integer(strict=True, required=True, validate=validate.Range(min=0, max=MAX_AMOUNT_CENTS))
    currency = Currency(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["charge", "verify"]))
    description = fields.String(allow_none=True, validate=validate.Length(max=255))

    @validates_schema
    def _kind_rules(self, data, **kwargs):
        if data["kind"] == "charge" and data["amount_cents"] < 1:
            raise ValidationError({"amount_cents": ["A charge must be positive."]})
        # Its outcome event names the subscription, which the subscription service requires.
        if data["kind"] == "verify" and data.get("subscription_id") is None:
            raise ValidationError({"subscription_id": ["A verification needs the trial's subscription_id."]})


class _EventEnvelope(ma.Schema):
    """An outbox event from the subscription service: {event_id, type, created_at, data}."""
    class Meta:
        unknown = ma.EXCLUDE

    event_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    created_at = fields.String()


class ChargeRequestedSchema(_EventEnvelope):
    type = fields.String(required=True, validate=validate.Equal("charge.requested"))
    data = fields.Nested(ChargeRequestedDataSchema, required=True)


class ChargeAcceptedSchema(ma.Schema):
    transaction_id = fields.UUID()
    status = fields.String()


# The outbox sends at most this many events of one transaction in one call (core/outbox.py).
MAX_BATCH_EVENTS = 100


class ChargeBatchSchema(StrictSchema):
    """Several charge.requested envelopes in one signed call; each is checked on its own (a bad one is its 422)."""
    events = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=MAX_BATCH_EVENTS))


class ChargeBatchResultSchema(ma.Schema):
    event_id = fields.String(allow_none=True)
    status = Integer(metadata={"description": "What POST /charges would have answered for this event"})
    transaction_id = fields.UUID(allow_none=True)
    transaction_status = fields.String(allow_none=True)
    message = fields.String()
    errors = fields.Dict()


class ChargeBatchAnswerSchema(ma.Schema):
    results = fields.List(fields.Nested(ChargeBatchResultSchema))


class RefundRequestedDataSchema(ma.Schema):
    """Tolerant of fields it does not know, like charge.requested. No user_id: the refund goes to the
    transaction's own owner, whoever asks."""
    class Meta:
        unknown = ma.EXCLUDE

    request_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    transaction_id = fields.UUID(required=True)
    amount_cents = Integer(strict=True, allow_none=True, load_default=None,
                                  validate=validate.Range(min=1, max=MAX_AMOUNT_CENTS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=255))


class RefundRequestedSchema(_EventEnvelope):
    type = fields.String(required=True, validate=validate.Equal("refund.requested"))
    data = fields.Nested(RefundRequestedDataSchema, required=True)


class InternalRefundSchema(RefundSchema):
    user_id = Integer()
    request_id = fields.String(allow_none=True)


class RefundedTransactionSchema(ma.Schema):
    id = fields.UUID()
    status = fields.String()
    amount_cents = Integer()
    refunded_cents = Integer()
    currency = fields.String()


class ServiceRefundSchema(ma.Schema):
    """The answer to refund.requested: what became of the request, and the transaction as it is now."""
    outcome = fields.String(metadata={"enum": ["refund_requested", "already_requested", "already_refunded"]})
    refund = fields.Nested(InternalRefundSchema, allow_none=True)
    transaction = fields.Nested(RefundedTransactionSchema)


class GatewayEventSchema(ma.Schema):
    """The gateway's webhook envelope; `data` is read by payment_app.gateway_results."""
    class Meta:
        unknown = ma.INCLUDE

    event_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    type = fields.String(allow_none=True, validate=validate.Length(max=64))
    created_at = fields.String()
    data = fields.Dict()


class WebhookAckSchema(ma.Schema):
    received = fields.Boolean()
    processed = fields.Boolean()
    duplicate = fields.Boolean()


class GatewayBatchSchema(StrictSchema):
    """Several gateway events in one signed call; each is checked on its own (a bad one is its 422)."""
    events = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=MAX_BATCH_EVENTS))


class GatewayBatchResultSchema(WebhookAckSchema):
    event_id = fields.String(allow_none=True)
    status = Integer(metadata={"description": "What POST /v1/webhooks/gateway would have answered for this event"})
    message = fields.String()
    errors = fields.Dict()


class GatewayBatchAnswerSchema(ma.Schema):
    results = fields.List(fields.Nested(GatewayBatchResultSchema))
