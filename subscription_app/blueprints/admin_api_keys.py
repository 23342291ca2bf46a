"""/v1/admin/api-keys: keys for POST /v1/usage/events (admin role only; the key is shown once)."""
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from core.extensions import db
from subscription_app.accounts import require_admin
from subscription_app.catalog.audit import Actor
from subscription_app.usage import api_keys
from subscription_app.usage.event_schemas import ApiKeyCreateSchema, ApiKeySchema, NewApiKeySchema

blp = Blueprint("admin_api_keys", __name__, url_prefix="/v1/admin/api-keys",
                description="Admin: API keys for server-to-server usage reporting")
BEARER = [{"bearerAuth": []}]


def _admin() -> Actor:
    return Actor(require_admin().id, "api")


@blp.route("", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ApiKeyCreateSchema)
@blp.response(201, NewApiKeySchema)
def create(data):
    """A new key; the answer is the only time its plaintext is shown."""
    key, plaintext = api_keys.create(data["name"], _admin())
    db.session.commit()
    return {**{column: getattr(key, column) for column in ApiKeySchema().fields}, "key": plaintext}


@blp.route("")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, ApiKeySchema(many=True))
def list_keys():
    """Every key, newest first (prefixes only)."""
    _admin()
    return api_keys.list_keys()


@blp.route("/<uuid:key_id>/revoke", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, ApiKeySchema)
def revoke(key_id: uuid.UUID):
    """Refuse the key from now on (revoking twice is a no-op)."""
    key = api_keys.revoke(key_id, _admin())
    db.session.commit()
    return key
