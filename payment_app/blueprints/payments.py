"""/v1/payments: process a payment, read transactions (owner-only), request a refund (owner or operator)."""
import functools

from flask_jwt_extended import get_jwt, get_jwt_identity, jwt_required, verify_jwt_in_request

from core.blueprint import Blueprint
from core.idempotency import idempotent, openapi_parameter
from core.security import has_service_token
from core.pagination import ListArgsSchema
from payment_app import payments, refunds
from payment_app.models import PaymentIdempotencyKey
from payment_app.schemas import (ProcessPaymentSchema, RefundRequestSchema, RefundSchema, TransactionPageSchema,
                                 TransactionSchema)

blp = Blueprint("payments", __name__, url_prefix="/v1/payments",
                description="Payments, transactions and refunds (the caller's own only)")
BEARER = [{"bearerAuth": []}]


def _user_id() -> int:
    return int(get_jwt_identity())


def _user_or_service_token(view):
    """A user's bearer token, or the subscription service's X-Service-Token (an operator)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        verify_jwt_in_request(optional=has_service_token())
        return view(*args, **kwargs)
    return wrapper


def _caller() -> refunds.Caller:
    if get_jwt_identity() is None:
        return refunds.Caller(user_id=None, operator=True)
    return refunds.Caller(user_id=_user_id(), operator=get_jwt().get("role") == "admin")


@blp.route("/process", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER, parameters=[openapi_parameter("Replays the first answer for the same key and body")])
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
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, TransactionPageSchema)
def list_transactions(args):
    """The caller's transactions, newest first."""
    return payments.list_transactions(_user_id(), args)


@blp.route("/transactions/<uuid:transaction_id>")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, TransactionSchema)
@blp.alt_response(404, description="Unknown transaction, or another user's")
def get_transaction(transaction_id):
    """One of the caller's transactions, with its refunds."""
    return payments.get_transaction(_user_id(), transaction_id)


@blp.route("/refund/<uuid:transaction_id>", methods=["POST"])
@_user_or_service_token
@blp.doc(security=BEARER + [{"serviceToken": []}],
         parameters=[openapi_parameter("Replays the first answer for the same key and body")])
@idempotent(PaymentIdempotencyKey)
@blp.arguments(RefundRequestSchema)
@blp.response(202, RefundSchema)
@blp.alt_response(403, description="A payment of an invoice, asked for by its customer: operators only")
@blp.alt_response(404, description="Unknown transaction, or (for a customer) another user's")
@blp.alt_response(409, description="Not a succeeded charge, or nothing left to refund")
def refund(data, transaction_id):
    """Refund a succeeded charge: the whole refundable rest by default, or `amount_cents` of it.

    A customer refunds their own one-off charges; a payment of an invoice only an operator (admin
    role, or the service token) refunds. Answers 202 with the refund `pending` and its
    `subscription_effect`, applied when the gateway confirms the refund: a full refund of the
    current period's invoice cancels the subscription at once unless `keep_subscription` is true.
    """
    return refunds.request_refund(_caller(), transaction_id, data.get("amount_cents"), data.get("reason"),
                                  data["keep_subscription"])
