"""/v1/admin/api-keys: keys for POST /v1/usage/events (admin role only; the key is shown once)."""
import uuid

from core.extensions import db
from subscription_app.blueprints.admin_blueprint import AdminBlueprint, admin_actor
from subscription_app.usage import api_keys
from subscription_app.usage.event_schemas import ApiKeyCreateSchema, ApiKeySchema, NewApiKeySchema

blp = AdminBlueprint("admin_api_keys", __name__, url_prefix="/v1/admin/api-keys",
                     description="Admin: API keys for server-to-server usage reporting")


@blp.route("", methods=["POST"])
@blp.arguments(ApiKeyCreateSchema)
@blp.response(201, NewApiKeySchema)
def create(data):
    """A new key; the answer is the only time its plaintext is shown."""
    key, plaintext = api_keys.create(data["name"], admin_actor())
    db.session.commit()
    return {**{column: getattr(key, column) for column in ApiKeySchema().fields}, "key": plaintext}


@blp.route("")
@blp.response(200, ApiKeySchema(many=True))
def list_keys():
    """Every key, newest first (prefixes only)."""
    return api_keys.list_keys()


@blp.route("/<uuid:key_id>/revoke", methods=["POST"])
@blp.response(200, ApiKeySchema)
def revoke(key_id: uuid.UUID):
    """Refuse the key from now on (revoking twice is a no-op)."""
    key = api_keys.revoke(key_id, admin_actor())
    db.session.commit()
    return key
