"""/v1/webhooks/payment: signed events from the payment service (docs/service-contract.md)."""
from flask import request

from core.blueprint import Blueprint
from core.errors import ApiError
from core.security import verify_request_signature
from subscription_app.billing import event_batch, events
from subscription_app.billing.schemas import WebhookAckSchema, WebhookBatchAnswerSchema

blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks", description="Incoming signed webhooks")


@blp.route("/payment", methods=["POST"])
@blp.doc(security=[{"webhookSignature": []}])
@blp.response(200, WebhookAckSchema)
@blp.alt_response(401, description="Missing, bad or stale signature (nothing is applied)")
def payment_webhook():
    """Apply a payment event once: a redelivered `event_id` answers 200 and changes nothing.

    Signed with `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`
    and `X-Webhook-Timestamp` (300 s tolerance). A body without `type` (the seed's
    `{"event_id": "test123", "status": "success"}`) is recorded and acknowledged unprocessed.
    """
    return events.receive(_signed_json())


@blp.route("/payment/batch", methods=["POST"])
@blp.doc(security=[{"webhookSignature": []}])
@blp.response(200, WebhookBatchAnswerSchema)
@blp.alt_response(401, description="Missing, bad or stale signature (nothing is applied)")
@blp.alt_response(422, description="`events` is not a list of 1 to 100 events")
def payment_webhook_batch():
    """Apply up to 100 payment events in one signed call, `{"events": [event, ...]}` (the payment outbox's
    batch delivery of the outcomes one transaction wrote).

    Signed as `POST /payment` is. Each event is applied as that endpoint applies it, in its own
    transaction, and gets its own result: `status` is what `POST /payment` would have answered (200, 400,
    422), so the sender retries only the events that need it, one by one through `POST /payment`.
    """
    return {"results": event_batch.receive_many(_signed_json())}


def _signed_json():
    verify_request_signature()  # on the raw bytes, before anything is parsed
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "Body must be JSON")
    return body
