"""/v1/usage/events: the operator's backend reports usage in batches (API key or service token only)."""
from flask import jsonify, request

from core.blueprint import Blueprint
from subscription_app.usage import api_keys, ingestion
from subscription_app.usage.event_schemas import BatchResultSchema, BatchSchema

blp = Blueprint("usage_events", __name__, url_prefix="/v1/usage/events",
                description="Server-to-server usage reporting, deduplicated by event_id")
EXAMPLE = {"events": [{"event_id": "evt_0001", "customer": 42, "feature": "api_calls", "quantity": 1,
                       "timestamp": "2026-12-01T09:00:00+00:00"}]}
BATCH_MAX_BYTES = 1024 * 1024  # 1,000 events of the largest allowed fields fit


@blp.before_request
def _room_for_a_batch():
    # Flask's documented per-request override of MAX_CONTENT_LENGTH (64 KiB elsewhere).
    request.max_content_length = BATCH_MAX_BYTES


@blp.route("", methods=["POST"])
@blp.doc(security=[{"serviceToken": []}],
         parameters=[{"in": "header", "name": api_keys.HEADER, "required": False, "schema": {"type": "string"},
                      "description": "An API key from POST /v1/admin/api-keys"}])
@blp.arguments(BatchSchema, example=EXAMPLE)
@blp.response(200, BatchResultSchema)
@blp.alt_response(401, description="No valid API key or service token (a user token is refused)")
def report(data):
    """Up to 1,000 events; each answered accepted, duplicate or rejected with a reason."""
    key_id = api_keys.authenticate()
    # The answer is already plain JSON of BatchResultSchema's fixed shape (a test pins it), and a Response
    # is sent as is by flask-smorest: its per-field dump cost 0.5 ms a batch for no change.
    return jsonify(ingestion.ingest(data["events"], key_id))
