"""/v1/payments: process a payment, read transactions, request a refund (owner-only)."""
from flask_jwt_extended import get_jwt_identity, jwt_required

from core.blueprint import Blueprint
from core.idempotency import idempotent
from core.schemas import PageArgsSchema
from payment_app import payments, refunds
from payment_app.models import PaymentIdempotencyKey
from payment_app.schemas import (ProcessPaymentSchema, RefundRequestSchema, RefundSchema, TransactionPageSchema,
                                 TransactionSchema)

blp = Blueprint("payments", __name__, url_prefix="/v1/payments",
                description="Payments, transactions and refunds (the caller's own only)")
BEARER = [{"bearerAuth": []}]


def _user_id() -> int:
    return int(get_jwt_identity())


@blp.route("/process", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER, parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                                       "schema": {"type": "string", "maxLength": 255}}])
@idempotent(PaymentIdempotencyKey)
@blp.arguments(ProcessPaymentSchema)
@blp.response(202, TransactionSchema)
@blp.alt_response(404, description="Unknown invoice or payment method (or another user's)")
@blp.alt_response(409, description="Invoice not open, already paid, or a payment for it is in progress")
@blp.alt_response(503, description="Subscription service unavailable")
def process(data):
    """Charge a card or a saved payment method, for an invoice or a one-off amount.

    Answers 202 with the transaction `pending`; the gateway's answer arrives within a few
    seconds and the transaction becomes `succeeded` or `failed` (poll GET /transactions/{id}).
    """
    return payments.process_payment(_user_id(), data)


@blp.route("/transactions")
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, TransactionPageSchema)
def list_transactions(args):
    """The caller's transactions, newest first."""
    return payments.list_transactions(_user_id(), args["page"], args["per_page"])


@blp.route("/transactions/<uuid:transaction_id>")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, TransactionSchema)
@blp.alt_response(404, description="Unknown transaction, or another user's")
def get_transaction(transaction_id):
    """One of the caller's transactions, with its refunds."""
    return payments.get_transaction(_user_id(), transaction_id)


@blp.route("/refund/<uuid:transaction_id>", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER, parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                                       "schema": {"type": "string", "maxLength": 255}}])
@idempotent(PaymentIdempotencyKey)
@blp.arguments(RefundRequestSchema)
@blp.response(202, RefundSchema)
@blp.alt_response(404, description="Unknown transaction, or another user's")
@blp.alt_response(409, description="Not a succeeded charge, or nothing left to refund")
def refund(data, transaction_id):
    """Refund a succeeded charge: the whole refundable rest by default, or `amount_cents` of it.

    Answers 202 with the refund `pending`; it becomes `succeeded` (the transaction turns
    `refunded` or `partially_refunded`) or `failed` when the gateway answers.
    """
    return refunds.request_refund(_user_id(), transaction_id, data.get("amount_cents"), data.get("reason"))
