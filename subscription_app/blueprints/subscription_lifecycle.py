"""/v1/subscriptions/{id}: resume, pause, card updates, discounts and plan-change quotes. Owner-only."""
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from subscription_app.accounts import current_user_id
from subscription_app.billing import card_updates, discount_changes, pausing, plan_change
from subscription_app.billing.lifecycle_schemas import (PauseSchema, PaymentMethodSchema, PlanPreviewSchema,
                                                        QuoteSchema)
from subscription_app.billing.schemas import SubscriptionSchema
from subscription_app.discounts.schemas import ApplyCodeSchema, DiscountSchema

blp = Blueprint("subscription_lifecycle", __name__, url_prefix="/v1/subscriptions",
                description="Resume, pause, card updates, discounts and plan-change quotes (docs/lifecycle.md)")
BEARER = [{"bearerAuth": []}]


@blp.route("/<uuid:subscription_id>/resume", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="Nothing to resume, or the period already ended")
def resume(subscription_id: uuid.UUID):
    """End a pause now, or undo a cancel (or pause) scheduled for the period end, before that end."""
    return pausing.resume_owned(current_user_id(), subscription_id)


@blp.route("/<uuid:subscription_id>/pause", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(PauseSchema, example={"at": "now", "resume_at": "2027-03-01T00:00:00+00:00"})
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="Not active, or a cancel, pause or upgrade is pending")
def pause(data, subscription_id: uuid.UUID):
    """Pause now or from the period end: no charges and no usage until resumed; paid time is kept."""
    return pausing.pause(current_user_id(), subscription_id, data["at"], data.get("resume_at"))


@blp.route("/<uuid:subscription_id>/payment-method", methods=["PUT"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(PaymentMethodSchema, example={"card": {"number": "4242424242424242", "exp_month": 12,
                                                      "exp_year": 2030, "cvc": "123"}})
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="The subscription has ended")
@blp.alt_response(503, description="The payment service cannot save the card right now")
def update_payment_method(data, subscription_id: uuid.UUID):
    """Replace the card later charges use; a past_due subscription's open invoice is retried with it at once."""
    return card_updates.update_card(current_user_id(), subscription_id, data["card"])


@blp.route("/<uuid:subscription_id>/plan/preview", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(PlanPreviewSchema, example={"plan_id": "550e8400-e29b-41d4-a716-446655440003"})
@blp.response(200, QuoteSchema)
@blp.alt_response(409, description="The plan of this subscription cannot be changed now")
def preview_plan_change(data, subscription_id: uuid.UUID):
    """What a change to `plan_id` costs, changing nothing; `PUT .../plan` with the `quote_id` bills exactly it."""
    return plan_change.preview(current_user_id(), subscription_id, data["plan_id"], data["proration"])


@blp.route("/<uuid:subscription_id>/discount", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ApplyCodeSchema, example={"promotion_code": "WELCOME20"})
@blp.response(201, DiscountSchema)
@blp.alt_response(409, description="The subscription has ended, or has a discount already")
def add_discount(data, subscription_id: uuid.UUID):
    """Redeem a promotion code on a live subscription: it discounts the next plan invoices (docs/discounts.md)."""
    return discount_changes.add_discount(current_user_id(), subscription_id, data["promotion_code"])
