"""/v1/plans: the public plan catalogue."""
import uuid

from sqlalchemy import select

from core.blueprint import Blueprint
from core.errors import ApiError
from core.extensions import db
from subscription_app.models import Plan
from subscription_app.schemas import PlanSchema

blp = Blueprint("plans", __name__, url_prefix="/v1/plans", description="Plan catalogue")


@blp.route("")
@blp.response(200, PlanSchema(many=True))
def list_plans():
    """Active plans, cheapest first."""
    return db.session.scalars(select(Plan).where(Plan.is_active.is_(True))
                              .order_by(Plan.sort_order, Plan.price_cents)).all()


@blp.route("/<uuid:plan_id>")
@blp.response(200, PlanSchema)
def get_plan(plan_id: uuid.UUID):
    """One plan by id."""
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise ApiError(404, "Plan not found")
    return plan
