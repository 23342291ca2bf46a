"""Service-to-service endpoints (X-Service-Token), per docs/service-contract.md."""

from core.blueprint import Blueprint
from core.pagination import ListArgsSchema
from core.security import service_auth_required
from payment_app import charge_requests, payments, refunds
from payment_app.schemas import (ChargeAcceptedSchema, ChargeBatchAnswerSchema, ChargeBatchSchema,
                                 ChargeRequestedSchema, NewPaymentMethodSchema,
                                 PaymentMethodSchema, RefundRequestedSchema, ServiceRefundSchema,
                                 TransactionPageSchema)

blp = Blueprint("payments_internal", __name__, url_prefix="/v1/payments/internal",
                description="Internal endpoints for the subscription service (X-Service-Token)")
SERVICE = [{"serviceToken": []}]


@blp.route("/payment-methods", methods=["POST"])
@service_auth_required
@blp.doc(security=SERVICE)
@blp.arguments(NewPaymentMethodSchema)
@blp.response(201, PaymentMethodSchema)
def create_payment_method(data):
    """Tokenise a card for a user; only brand, last4, expiry and the gateway's token are kept."""
    return payments.save_payment_method(data["user_id"], data["card"])


@blp.route("/charges", methods=["POST"])
@service_auth_required
@blp.doc(security=SERVICE)
@blp.arguments(ChargeRequestedSchema)
@blp.response(202, ChargeAcceptedSchema)
@blp.alt_response(200, schema=ChargeAcceptedSchema, description="Already received (same event or key)")
def request_charge(envelope):
    """Receive a charge.requested event (the subscription service's outbox target payment_charges)."""
    txn, created = charge_requests.request_charge(envelope)
    return {"transaction_id": txn.id, "status": txn.status}, 202 if created else 200


@blp.route("/charges/batch", methods=["POST"])
@service_auth_required
@blp.doc(security=SERVICE)
@blp.arguments(ChargeBatchSchema)
@blp.response(200, ChargeBatchAnswerSchema)
def request_charges(batch):
    """Receive up to 100 charge.requested events in one call (the outbox's batch delivery of one bill-run batch).

    Each event is applied exactly as `POST /charges` applies it, in its own SAVEPOINT of the batch's one
    transaction, and gets its own result: `status` is what that endpoint would have answered (202, 200, 409,
    422), so the sender retries only the events that need it. The answer comes after the commit: a 5xx
    acknowledges none of them.
    """
    return {"results": charge_requests.request_charges(batch["events"])}


@blp.route("/refunds", methods=["POST"])
@service_auth_required
@blp.doc(security=SERVICE)
@blp.arguments(RefundRequestedSchema)
@blp.response(202, ServiceRefundSchema)
@blp.alt_response(200, schema=ServiceRefundSchema,
                  description="Nothing new to do: already requested (same request_id), or already refunded in full")
@blp.alt_response(404, description="Unknown transaction")
@blp.alt_response(409, description="Not a succeeded charge, nothing left to refund, or a refund of it is pending")
@blp.alt_response(422, description="More than is left to refund")
def request_refund(envelope):
    """Receive a refund.requested event (the subscription service's outbox target payment_refunds).

    Deduped by data.request_id per transaction rather than by event id: a redelivery and the same
    request under a new event id both answer 200 with the refund the first one created. A transaction
    already refunded in full (say by hand) answers 200 `already_refunded` with no refund: the money is back.
    """
    data = envelope["data"]
    outcome, refund, txn = refunds.request_service_refund(data["transaction_id"], data["amount_cents"],
                                                          data["reason"], data["request_id"])
    body = {"outcome": outcome, "refund": refund, "transaction": txn}
    return body, 202 if outcome == "refund_requested" else 200


@blp.route("/users/<int:user_id>/transactions")
@service_auth_required
@blp.doc(security=SERVICE)
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, TransactionPageSchema)
def list_user_transactions(args, user_id: int):
    """A user's transactions, newest first, for the subscription service's back office."""
    return payments.list_transactions(user_id, args)
