"""/v1/subscriptions: create (paid or trial), read, history, change plan, cancel. Owner-only."""
import uuid

from flask_jwt_extended import jwt_required

from core import status_wait
from core.blueprint import Blueprint
from core.idempotency import idempotent, openapi_parameter
from core.pagination import ListArgsSchema
from subscription_app.accounts import current_user, current_user_id
from subscription_app.billing import history as sub_history
from subscription_app.billing import lifecycle, plan_change
from subscription_app.billing.schemas import (CancelArgsSchema, ChangePlanSchema, CreateSubscriptionSchema,
                                              SubscriptionEventPageSchema, SubscriptionPageSchema,
                                              SubscriptionSchema, TrialSchema)
from subscription_app.models import SubscriptionIdempotencyKey

blp = Blueprint("subscriptions", __name__, url_prefix="/v1/subscriptions",
                description="Subscriptions of the authenticated user")
BEARER = [{"bearerAuth": []}]
IDEMPOTENCY = {"parameters": [openapi_parameter("Replays the first answer for the same key and body")]}


@blp.route("", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER, **IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(CreateSubscriptionSchema, example={"plan_id": "550e8400-e29b-41d4-a716-446655440000",
                                                  "promotion_code": "WELCOME20"})
@blp.response(201, SubscriptionSchema)
@blp.alt_response(409, description="A live subscription exists already")
@blp.alt_response(503, description="The payment service cannot save the card right now")
def create(data):
    """Subscribe to a paid plan: `incomplete` with an open invoice until a payment succeeds.

    With `card`, the card is saved with the payment service and charged at once; without
    it, pay the invoice with `POST /v1/payments/process {invoice_id, card}`. A `promotion_code`
    adds a `discount` line (docs/discounts.md); an expired or used-up code is a 422 naming why.
    """
    user = current_user()
    return lifecycle.create(user.id, data["plan_id"], card=data.get("card"),
                            payment_method_id=data.get("payment_method_id"),
                            promotion_code=data.get("promotion_code"))


@blp.route("/trial", methods=["POST"])
@jwt_required()
@blp.doc(security=BEARER, **IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(TrialSchema)
@blp.response(201, SubscriptionSchema)
@blp.alt_response(409, description="A live subscription exists, or the trial was used already")
def create_trial(data):
    """Start a trial (`trialing` at once); a card, if given, is verified with a zero-amount check."""
    user = current_user()
    return lifecycle.start_trial(user.id, data["trial_plan_id"], card=data.get("card"))


@blp.route("")
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, SubscriptionPageSchema)
def history(args):
    """Every subscription of the user, newest first."""
    return lifecycle.list_subscriptions(current_user_id(), args)


@blp.route("/active")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, SubscriptionSchema)
@blp.alt_response(404, description="No active subscription (an unpaid `incomplete` one does not count)")
def active():
    """The subscription that is active, trialing or past_due (being retried)."""
    return lifecycle.active_subscription(current_user_id())


@blp.route("/<uuid:subscription_id>")
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(status_wait.WaitArgsSchema, location="query")
@blp.response(200, SubscriptionSchema)
def get_subscription(args, subscription_id: uuid.UUID):
    """One subscription of the user, with its latest invoice.

    With `?wait=N` and the subscription `incomplete` (its first payment in flight), the answer comes
    as soon as its status changes, or after N seconds with the status as it is then (docs/api.md).
    """
    user_id = current_user_id()
    # The wait reads the subscription alone; only the one answered gets its invoice and discount.
    sub = status_wait.answer("subscription", subscription_id, args["wait"], pending=lambda s: s.status == "incomplete",
                             read=lambda: lifecycle.owned_subscription(user_id, subscription_id))
    return lifecycle.with_latest_invoice(sub)


@blp.route("/<uuid:subscription_id>/history")
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, SubscriptionEventPageSchema)
@blp.alt_response(404, description="Unknown subscription, or another user's")
def subscription_history(args, subscription_id: uuid.UUID):
    """What happened to the subscription, oldest first: refunds and what they did to it."""
    sub = lifecycle.owned_subscription(current_user_id(), subscription_id)
    return sub_history.list_events(sub, args)


@blp.route("/<uuid:subscription_id>/plan", methods=["PUT"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ChangePlanSchema, example={"plan_id": "550e8400-e29b-41d4-a716-446655440003",
                                          "quote_id": "5f0c3a1e-8d7b-4c2a-9e61-2b7f1c0d9a44"})
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="The subscription is not active, or an upgrade awaits payment")
def change_plan(data, subscription_id: uuid.UUID):
    """Upgrade now (prorated invoice; the plan switches when it is paid) or downgrade at period end.

    With `quote_id` (from `POST .../plan/preview`) exactly the quoted amount is billed, or 409 if the
    quote expired or the subscription changed since. During a trial, see docs/lifecycle.md.

    To a plan with another billing interval: the unused time is credited and the new plan's full
    price charged; once paid, a new period and billing cycle anchor start. A credit worth more than
    the new price switches at once and the rest goes to the customer balance (docs/credit-balance.md).
    """
    return plan_change.change_plan(current_user_id(), subscription_id, data["plan_id"],
                                   quote_id=data.get("quote_id"), trial_end=data.get("trial_end"))


@blp.route("/<uuid:subscription_id>", methods=["DELETE"])
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(CancelArgsSchema, location="query")
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="Already canceled or ended")
def cancel(args, subscription_id: uuid.UUID):
    """Cancel now (open invoices voided), or with `?at_period_end=true` when the period ends."""
    return lifecycle.cancel(current_user_id(), subscription_id, at_period_end=args["at_period_end"])
