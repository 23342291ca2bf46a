"""/v1/admin/subscriptions: every customer's subscriptions, and the operator's lifecycle actions (admin role only,
in production too; audited).

Each calls the customer routes' own domain functions (through backoffice/subscriptions_admin.py);
the actions that move money take an Idempotency-Key.
"""
import uuid

from core.idempotency import idempotent
from core.pagination import split_paging
from subscription_app.backoffice import subscriptions_admin
from subscription_app.backoffice.schemas import (AdminCancelSchema, AdminChangePlanSchema,
                                                 AdminSubscriptionPageSchema, ExtendTrialSchema,
                                                 SubscriptionArgsSchema)
from subscription_app.billing.schemas import SubscriptionSchema
from subscription_app.blueprints.admin_blueprint import IDEMPOTENCY, AdminBlueprint, admin_actor
from subscription_app.discounts.schemas import DeletedDiscountSchema
from subscription_app.models import SubscriptionIdempotencyKey

blp = AdminBlueprint("admin_subscriptions", __name__, url_prefix="/v1/admin/subscriptions",
                     description="Admin: subscriptions")


@blp.route("")
@blp.arguments(SubscriptionArgsSchema, location="query")
@blp.response(200, AdminSubscriptionPageSchema)
def list_subscriptions(args):
    """Every customer's subscriptions, newest first: `status`, `plan_id`, the customer's `email_prefix`.

    Cursor pages (`limit`, `starting_after`) or offset pages (`page`, `per_page`), as every list.
    """
    paging, filters = split_paging(args)
    return subscriptions_admin.search(paging, **filters)


@blp.route("/<uuid:subscription_id>/resume", methods=["POST"])
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="Nothing to resume, or the period already ended")
def resume(subscription_id: uuid.UUID):
    """Resume or un-cancel any customer's subscription, as the customer could (`by: admin` in its history)."""
    return subscriptions_admin.resume(subscription_id, admin_actor())


@blp.route("/<uuid:subscription_id>/cancel", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(AdminCancelSchema, example={"at_period_end": True})
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="Already canceled or ended")
def cancel(data, subscription_id: uuid.UUID):
    """Cancel now (open invoices voided) or at the period end, as the customer's DELETE does."""
    return subscriptions_admin.cancel(subscription_id, data["at_period_end"], admin_actor())


@blp.route("/<uuid:subscription_id>/plan", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(AdminChangePlanSchema, example={"plan_id": "550e8400-e29b-41d4-a716-446655440003",
                                               "proration": "none"})
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="Not active, or an upgrade is waiting for payment")
def change_plan(data, subscription_id: uuid.UUID):
    """Change the plan with the chosen proration, billed exactly as the customer's preview quotes it."""
    return subscriptions_admin.change_plan(subscription_id, data["plan_id"], data["proration"], admin_actor())


@blp.route("/<uuid:subscription_id>/trial", methods=["POST"])
@blp.arguments(ExtendTrialSchema, example={"trial_end": "2027-01-15T00:00:00+00:00"})
@blp.response(200, SubscriptionSchema)
@blp.alt_response(409, description="Not trialing")
def extend_trial(data, subscription_id: uuid.UUID):
    """Extend a running trial to a later `trial_end` (at most a year past the current one)."""
    return subscriptions_admin.extend_trial(subscription_id, data["trial_end"], admin_actor())


@blp.route("/<uuid:subscription_id>/discount", methods=["DELETE"])
@blp.response(200, DeletedDiscountSchema)
@blp.alt_response(404, description="No such subscription, or it has no discount")
def delete_discount(subscription_id: uuid.UUID):
    """Remove the discount (Stripe's DELETE /v1/subscriptions/{id}/discount): later invoices are full price."""
    return subscriptions_admin.delete_discount(subscription_id, admin_actor())
