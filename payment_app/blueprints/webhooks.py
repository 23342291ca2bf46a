"""POST /v1/webhooks/gateway: the (mock) gateway's signed answers."""
import functools

from core.blueprint import Blueprint
from core.security import verify_request_signature
from payment_app import gateway_results
from payment_app.schemas import (GatewayBatchAnswerSchema, GatewayBatchSchema, GatewayEventSchema,
                                 WebhookAckSchema)

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


@blp.route("/gateway/batch", methods=["POST"])
@signature_required
@blp.doc(security=[{"webhookSignature": []}])
@blp.arguments(GatewayBatchSchema)
@blp.response(200, GatewayBatchAnswerSchema)
@blp.alt_response(401, description="Missing, invalid or stale signature")
def gateway_webhook_batch(batch):
    """Apply up to 100 gateway results in one call (the mock gateway's answers due at the same second).

    Each event is applied as `POST /gateway` applies it and gets its own result: `status` is what that
    endpoint would have answered (200, 404, 422), so the gateway sends again only the events that need it.
    """
    return {"results": gateway_results.apply_events(batch["events"])}
