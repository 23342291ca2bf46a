"""POST /v1/webhooks/gateway: the (mock) gateway's signed answers."""
import functools

from core.blueprint import Blueprint
from core.security import verify_request_signature
from payment_app import gateway_results
from payment_app.schemas import GatewayEventSchema, WebhookAckSchema

blp = Blueprint("payment_webhooks", __name__, url_prefix="/v1/webhooks",
                description="Signed webhooks from the payment gateway")


def signature_required(view):
    """Refuse (401, no effect) before the body is even parsed unless the signature is valid and fresh."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        verify_request_signature()
        return view(*args, **kwargs)
    return wrapper


@blp.route("/gateway", methods=["POST"])
@signature_required
@blp.doc(security=[{"webhookSignature": []}])
@blp.arguments(GatewayEventSchema)
@blp.response(200, WebhookAckSchema)
@blp.alt_response(401, description="Missing, invalid or stale signature")
@blp.alt_response(404, description="Unknown transaction or refund")
def gateway_webhook(envelope):
    """Apply a charge/authorise/void/refund result; a redelivered event id is acknowledged and ignored."""
    return gateway_results.apply_event(envelope)
