"""/v1/admin/clock: move the billing clock in development and tests (admin only, 404 in production)."""
from flask import current_app
from flask_jwt_extended import jwt_required

from core import clock
from core.blueprint import Blueprint
from core.errors import ApiError
from subscription_app.accounts import require_admin
from subscription_app.billing.schemas import ClockAdvanceSchema, ClockSchema

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Admin tools (development and test only)")
BEARER = [{"bearerAuth": []}]


@blp.before_request
def _absent_in_production():
    # Checked before authentication: in production the endpoint does not exist at all.
    if current_app.config["SETTINGS"].is_production:
        raise ApiError(404, "Not found")


def _state() -> dict:
    return {"now": clock.utcnow(), "offset_seconds": clock.get_offset()}


@blp.route("/clock")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, ClockSchema)
def get_clock():
    """The billing clock and its offset from real time."""
    require_admin()
    return _state()


@blp.route("/clock", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ClockAdvanceSchema)
@blp.response(200, ClockSchema)
def advance_clock(data):
    """Move "now" forward by `advance_seconds` (added to the offset); a negative advance is a 422."""
    require_admin()
    clock.set_offset(clock.get_offset() + data["advance_seconds"])
    return _state()
