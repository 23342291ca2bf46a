"""/v1/admin/subscriptions: the operator's lifecycle actions (admin role only, in production too)."""
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from subscription_app import accounts
from subscription_app.billing import pausing
from subscription_app.billing.schemas import SubscriptionSchema

blp = Blueprint("admin_subscriptions", __name__, url_prefix="/v1/admin/subscriptions",
                description="Admin: subscriptions")
BEARER = [{"bearerAuth": []}]


@blp.route("/<uuid:subscription_id>/resume", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, SubscriptionSchema)
@blp.alt_response(403, description="Admin role required")
@blp.alt_response(409, description="Nothing to resume, or the period already ended")
def resume(subscription_id: uuid.UUID):
    """Resume any customer's subscription, as the customer could (recorded as `by: admin` in its history)."""
    accounts.require_admin()
    return pausing.resume_any(subscription_id)
