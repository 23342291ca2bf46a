"""Service-to-service endpoints (X-Service-Token), per docs/service-contract.md."""
from flask_smorest import Blueprint

from core.security import service_auth_required
from payment_app import payments
from payment_app.schemas import (ChargeAcceptedSchema, ChargeRequestedSchema, NewPaymentMethodSchema,
                                 PaymentMethodSchema)

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
    txn, created = payments.request_charge(envelope)
    return {"transaction_id": txn.id, "status": txn.status}, 202 if created else 200
