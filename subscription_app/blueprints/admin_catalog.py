"""/v1/admin/plans and /v1/admin/features: the operator's catalog (admin role only, audited).

Routes parse, check the role, call catalog/ (the same functions as `flask plans ...`) and
commit; money actions (a new plan, a new price, a migration) take an Idempotency-Key, whose
decorator commits them together with the stored answer.
"""
import uuid

from core.extensions import db
from core.idempotency import idempotent
from subscription_app.blueprints.admin_blueprint import IDEMPOTENCY, AdminBlueprint, admin_actor
from subscription_app.catalog import features, migration, plans
from subscription_app.catalog.schemas import (FEATURE_EXAMPLE, TEAM, UPDATE_EXAMPLE, AdminPlanSchema, FeatureSchema,
                                              MigrateSchema, MigrationSchema, NewPriceSchema, PlanCreateSchema,
                                              PlanUpdateSchema, PriceSchema)
from subscription_app.models import SubscriptionIdempotencyKey

blp = AdminBlueprint("Admin: catalog", __name__, url_prefix="/v1/admin",
                     description="Plans, price versions and features (admin role only; every change audited)")


def _done(result):
    db.session.commit()
    return result


@blp.route("/plans")
@blp.response(200, AdminPlanSchema(many=True))
def list_plans():
    """Every plan, archived ones included."""
    return plans.list_plans()


@blp.route("/plans", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(PlanCreateSchema, example=TEAM)
@blp.response(201, AdminPlanSchema)
def create_plan(data):
    """Create a plan and its price version 1 (a duplicate name or code is a 422)."""
    return plans.create_plan(data, admin_actor())


@blp.route("/plans/<uuid:plan_id>")
@blp.response(200, AdminPlanSchema)
def get_plan(plan_id: uuid.UUID):
    """One plan, archived or not."""
    return plans.get_plan(plan_id)


@blp.route("/plans/<uuid:plan_id>", methods=["PATCH"])
@blp.arguments(PlanUpdateSchema, example=UPDATE_EXAMPLE)
@blp.response(200, AdminPlanSchema)
def update_plan(data, plan_id: uuid.UUID):
    """Edit the name, description, feature limits or order; prices change only by a new version."""
    actor = admin_actor()
    return _done(plans.update_plan(plans.get_plan(plan_id), data, actor))


@blp.route("/plans/<uuid:plan_id>/archive", methods=["POST"])
@blp.response(200, AdminPlanSchema)
def archive_plan(plan_id: uuid.UUID):
    """Take no new subscribers; existing ones keep the plan and renew on it."""
    actor = admin_actor()
    return _done(plans.set_archived(plans.get_plan(plan_id), True, actor))


@blp.route("/plans/<uuid:plan_id>/unarchive", methods=["POST"])
@blp.response(200, AdminPlanSchema)
def unarchive_plan(plan_id: uuid.UUID):
    """Offer the plan to new subscribers again."""
    actor = admin_actor()
    return _done(plans.set_archived(plans.get_plan(plan_id), False, actor))


@blp.route("/plans/<uuid:plan_id>/prices")
@blp.response(200, PriceSchema(many=True))
def list_prices(plan_id: uuid.UUID):
    """The plan's price versions, oldest first; the last active one is what new subscribers pay."""
    return plans.list_prices(plans.get_plan(plan_id))


@blp.route("/plans/<uuid:plan_id>/prices", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(NewPriceSchema, example={"price_cents": 5900})
@blp.response(201, PriceSchema)
def new_price(data, plan_id: uuid.UUID):
    """Issue a new price version: new subscribers pay it, existing ones stay on theirs until migrated."""
    actor = admin_actor()
    return plans.new_price(plans.get_plan(plan_id), data["price_cents"], actor)


@blp.route("/plans/<uuid:plan_id>/migrate", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(MigrateSchema, example={"dry_run": True})
@blp.response(200, MigrationSchema)
def migrate(data, plan_id: uuid.UUID):
    """Move one subscriber or all of the plan to its current price, effective at their next period.

    With `dry_run` it lists who would move and the old and new amounts, and changes nothing.
    """
    actor = admin_actor()
    return migration.migrate_price(plans.get_plan(plan_id), actor, subscription_id=data.get("subscription_id"),
                                   dry_run=data["dry_run"])


@blp.route("/features")
@blp.response(200, FeatureSchema(many=True))
def list_features():
    """The feature catalogue."""
    return features.list_features()


@blp.route("/features", methods=["POST"])
@blp.arguments(FeatureSchema, example=FEATURE_EXAMPLE)
@blp.response(201, FeatureSchema)
def create_feature(data):
    """Add a feature key plans can grant: `metered` (a limit per period) or `flag` (on/off)."""
    actor = admin_actor()
    return _done(features.create_feature(data, actor))
