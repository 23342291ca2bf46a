"""/v1/admin/webhook-endpoints and /v1/admin/events: integrator webhooks (admin role only).

Thin routes over subscription_app.integrations.endpoints; docs/webhooks.md has the contract.
"""
import uuid

from subscription_app.blueprints.admin_blueprint import AdminBlueprint, admin_actor
from subscription_app.integrations import endpoints
from subscription_app.integrations import schemas as s

blp = AdminBlueprint("admin_webhooks", __name__, url_prefix="/v1/admin", description="Admin: integrator webhooks")
ENDPOINT = "/webhook-endpoints/<uuid:endpoint_id>"


@blp.route("/webhook-endpoints", methods=["POST"])
@blp.arguments(s.EndpointCreateSchema)
@blp.response(201, s.EndpointWithSecretSchema)
def create_endpoint(body):
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    return endpoints.create(admin_actor(), **body)


@blp.route("/webhook-endpoints", methods=["GET"])
@blp.response(200, s.EndpointListSchema)
def list_endpoints():
    return {"items": endpoints.list_all()}


@blp.route(ENDPOINT, methods=["GET"])
@blp.response(200, s.EndpointSchema)
def get_endpoint(endpoint_id: uuid.UUID):
    return endpoints.get(endpoint_id)


@blp.route(ENDPOINT, methods=["PATCH"])
@blp.arguments(s.EndpointUpdateSchema)
@blp.response(200, s.EndpointSchema)
def update_endpoint(body, endpoint_id: uuid.UUID):
    """Change url, filter or description; `enabled: true` re-enables an endpoint that was disabled."""
    return endpoints.update(admin_actor(), endpoint_id, body)


@blp.route(ENDPOINT, methods=["DELETE"])
@blp.response(204)
def delete_endpoint(endpoint_id: uuid.UUID):
    endpoints.delete(admin_actor(), endpoint_id)


@blp.route(ENDPOINT + "/rotate-secret", methods=["POST"])
@blp.arguments(s.RotateSchema)
@blp.response(200, s.EndpointWithSecretSchema)
def rotate_secret(body, endpoint_id: uuid.UUID):
    """A new secret (shown once); the previous one keeps signing beside it for overlap_seconds."""
    return endpoints.rotate(admin_actor(), endpoint_id, body["overlap_seconds"])


@blp.route(ENDPOINT + "/deliveries", methods=["GET"])
@blp.arguments(s.DeliveryArgsSchema, location="query")
@blp.response(200, s.DeliveryListSchema)
def list_deliveries(args, endpoint_id: uuid.UUID):
    """The delivery log, newest first: status, attempts, last status code, latency, response snippet."""
    return {"items": endpoints.deliveries(endpoint_id, args.get("status"), args["limit"])}


@blp.route(ENDPOINT + "/replay", methods=["POST"])
@blp.arguments(s.ReplaySinceSchema)
@blp.response(202, s.ReplayedSchema)
def replay_since(body, endpoint_id: uuid.UUID):
    """Send every failed delivery of the endpoint created since `since` again."""
    return {"replayed": endpoints.replay_since(admin_actor(), endpoint_id, body["since"])}


@blp.route("/events", methods=["GET"])
@blp.arguments(s.EventArgsSchema, location="query")
@blp.response(200, s.EventPageSchema)
def list_events(args):
    """Every event, oldest first; pass the last id as starting_after for the next page."""
    return endpoints.list_events(args)


@blp.route("/events/<string:event_id>/replay", methods=["POST"])
@blp.arguments(s.ReplayEventSchema)
@blp.response(202, s.DeliverySchema)
def replay_event(body, event_id: str):
    """Send one event to one endpoint again."""
    return endpoints.replay_event(admin_actor(), event_id, body["endpoint_id"])
