"""/v1/admin/webhook-endpoints and /v1/admin/events: integrator webhooks (admin role only).

Thin routes over subscription_app.integrations.endpoints; docs/webhooks.md has the contract.
"""
import functools
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from subscription_app import accounts
from subscription_app.catalog.audit import Actor
from subscription_app.integrations import endpoints
from subscription_app.integrations import schemas as s

blp = Blueprint("admin_webhooks", __name__, url_prefix="/v1/admin", description="Admin: integrator webhooks")
BEARER = [{"bearerAuth": []}]
ENDPOINT = "/webhook-endpoints/<uuid:endpoint_id>"


def _admin(fn):
    """JWT, then the admin role (403 otherwise) before any parsing, and the bearer security in the docs."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        accounts.require_admin()
        return fn(*args, **kwargs)
    return blp.doc(security=BEARER)(jwt_required()(wrapper))


def _actor() -> Actor:
    """The signed-in admin, for the audit row of the change (the role was checked by @_admin)."""
    return Actor(accounts.current_user().id, "api")


@blp.route("/webhook-endpoints", methods=["POST"])
@_admin
@blp.arguments(s.EndpointCreateSchema)
@blp.response(201, s.EndpointWithSecretSchema)
def create_endpoint(body):
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    return endpoints.create(_actor(), **body)


@blp.route("/webhook-endpoints", methods=["GET"])
@_admin
@blp.response(200, s.EndpointListSchema)
def list_endpoints():
    return {"items": endpoints.list_all()}


@blp.route(ENDPOINT, methods=["GET"])
@_admin
@blp.response(200, s.EndpointSchema)
def get_endpoint(endpoint_id: uuid.UUID):
    return endpoints.get(endpoint_id)


@blp.route(ENDPOINT, methods=["PATCH"])
@_admin
@blp.arguments(s.EndpointUpdateSchema)
@blp.response(200, s.EndpointSchema)
def update_endpoint(body, endpoint_id: uuid.UUID):
    """Change url, filter or description; `enabled: true` re-enables an endpoint that was disabled."""
    return endpoints.update(_actor(), endpoint_id, body)


@blp.route(ENDPOINT, methods=["DELETE"])
@_admin
@blp.response(204)
def delete_endpoint(endpoint_id: uuid.UUID):
    endpoints.delete(_actor(), endpoint_id)


@blp.route(ENDPOINT + "/rotate-secret", methods=["POST"])
@_admin
@blp.arguments(s.RotateSchema)
@blp.response(200, s.EndpointWithSecretSchema)
def rotate_secret(body, endpoint_id: uuid.UUID):
    """A new secret (shown once); the previous one keeps signing beside it for overlap_seconds."""
    return endpoints.rotate(_actor(), endpoint_id, body["overlap_seconds"])


@blp.route(ENDPOINT + "/deliveries", methods=["GET"])
@_admin
@blp.arguments(s.DeliveryArgsSchema, location="query")
@blp.response(200, s.DeliveryListSchema)
def list_deliveries(args, endpoint_id: uuid.UUID):
    """The delivery log, newest first: status, attempts, last status code, latency, response snippet."""
    return {"items": endpoints.deliveries(endpoint_id, args.get("status"), args["limit"])}


@blp.route(ENDPOINT + "/replay", methods=["POST"])
@_admin
@blp.arguments(s.ReplaySinceSchema)
@blp.response(202, s.ReplayedSchema)
def replay_since(body, endpoint_id: uuid.UUID):
    """Send every failed delivery of the endpoint created since `since` again."""
    return {"replayed": endpoints.replay_since(_actor(), endpoint_id, body["since"])}


@blp.route("/events", methods=["GET"])
@_admin
@blp.arguments(s.EventArgsSchema, location="query")
@blp.response(200, s.EventPageSchema)
def list_events(args):
    """Every event, oldest first; pass the last id as starting_after for the next page."""
    return endpoints.list_events(args)


@blp.route("/events/<string:event_id>/replay", methods=["POST"])
@_admin
@blp.arguments(s.ReplayEventSchema)
@blp.response(202, s.DeliverySchema)
def replay_event(body, event_id: str):
    """Send one event to one endpoint again."""
    return endpoints.replay_event(_actor(), event_id, body["endpoint_id"])
