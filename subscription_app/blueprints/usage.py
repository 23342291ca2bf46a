"""/v1/usage: metered features of the caller's plan, and the admin reset."""
import functools

from flask_jwt_extended import jwt_required

from core import idempotency
from core.blueprint import Blueprint
from subscription_app import accounts
from subscription_app.usage import metering
from subscription_app.usage.schemas import (ResetResultSchema, ResetSchema, StatsSchema, UsageSchema,
                                            FeatureUsageSchema, UseResultSchema, UseSchema)

blp = Blueprint("usage", __name__, url_prefix="/v1/usage", description="Feature usage metering")
BEARER = [{"bearerAuth": []}]
# An instance, not the class: webargs would build (and deep-copy the fields of) a new schema
# on every request of the hottest route.
USE_SCHEMA = UseSchema()


def admin_required(fn):
    """The role is checked in the database before the body is parsed: non-admins get 403, never 422."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        accounts.require_admin()
        return fn(*args, **kwargs)
    return wrapper


@blp.route("/features/<string:feature_name>/use", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER, parameters=[idempotency.openapi_parameter(
    "A retry with the same key is not counted twice (24 h)")])
@blp.arguments(USE_SCHEMA)
@blp.response(200, UseResultSchema)
@blp.alt_response(403, description="No entitled (active, trialing or past_due) subscription")
@blp.alt_response(404, description="Feature not in the plan")
@blp.alt_response(429, description="Limit reached; body has used, limit and resets_at; nothing counted")
def use_feature(data, feature_name: str):
    """Consume `delta` units of a feature, atomically checked against the plan's limit."""
    return metering.use_feature(accounts.current_user_id(), feature_name, data["delta"], idempotency.request_key())


@blp.route("")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, UsageSchema)
@blp.alt_response(403, description="No entitled subscription")
def current_usage():
    """Usage of every feature of the caller's plan in the current billing period."""
    return metering.current_usage(accounts.current_user_id())


@blp.route("/stats")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, StatsSchema)
def usage_stats():
    """Used, limit and percent per feature now, and totals of past periods."""
    return metering.stats(accounts.current_user_id())


@blp.route("/reset", methods=["POST"])
@jwt_required()
@admin_required
@blp.doc(security=BEARER)
@blp.arguments(ResetSchema)
@blp.response(200, ResetResultSchema)
@blp.alt_response(403, description="Admin role required")
@blp.alt_response(404, description="Unknown user, or feature not in the user's plan")
@blp.alt_response(409, description="The user has no entitled subscription, so no current period")
def reset_usage(data):
    """Admin: zero a user's counters for the current period (one feature or all), in PostgreSQL and Redis."""
    return metering.reset(accounts.current_user(), data["user_id"], data["feature"])


@blp.route("/<string:feature_name>")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, FeatureUsageSchema)
@blp.alt_response(403, description="No entitled subscription")
@blp.alt_response(404, description="Feature not in the plan")
def feature_usage(feature_name: str):
    """Usage of one feature in the current billing period."""
    return metering.feature_usage(accounts.current_user_id(), feature_name)
