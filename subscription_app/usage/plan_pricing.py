"""A plan's usage pricing in plan_feature_prices: read, replace, and the limit the Lua script enforces."""
from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from core.extensions import db
from subscription_app.usage.models import PlanFeaturePrice
from subscription_app.usage.pricing import check_all


def of(plan_id: uuid.UUID) -> dict[str, dict]:
    rows = db.session.scalars(select(PlanFeaturePrice).where(PlanFeaturePrice.plan_id == plan_id)
                              .order_by(PlanFeaturePrice.feature_key)).all()
    return {row.feature_key: row.as_dict() for row in rows}


def check(pricing, kinds: dict[str, str]) -> dict[str, dict]:
    """Validate before anything is written (a 422 naming `usage_pricing.<key>...`)."""
    return check_all(pricing, kinds)


def replace(plan_id: uuid.UUID, pricing: dict[str, dict]) -> None:
    """The plan's whole pricing becomes `pricing` (already checked); features left out bill nothing."""
    db.session.execute(delete(PlanFeaturePrice).where(PlanFeaturePrice.plan_id == plan_id))
    for key, spec in pricing.items():
        db.session.add(PlanFeaturePrice(plan_id=plan_id, feature_key=key, **spec))
    db.session.flush()

