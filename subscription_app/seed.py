"""Seed data of the public contract: the admin account and the plan catalogue."""
from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import select

from core.extensions import db
from core.security import hash_password
from subscription_app.accounts import find_by_email
from subscription_app.billing.periods import interval_problem
from subscription_app.catalog import audit, features
from subscription_app.catalog import plans as catalog_plans
from subscription_app.models import Plan, User

SEED_PASSWORD = "password123"
PRO_MONTHLY_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
PRO_TRIAL_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440001")
BASIC_MONTHLY_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440002")
ENTERPRISE_MONTHLY_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440003")

PLANS = [
    dict(id=BASIC_MONTHLY_ID, code="basic_monthly", name="Basic", sort_order=10, price_cents=900,
         description="For side projects.", feature_limits={"api_calls": 1000, "reports": 10, "exports": 5}),
    dict(id=PRO_MONTHLY_ID, code="pro_monthly", name="Pro", sort_order=20, price_cents=2900,
         description="The paid monthly plan.", feature_limits={"api_calls": 10000, "reports": 100, "exports": 50}),
    dict(id=ENTERPRISE_MONTHLY_ID, code="enterprise_monthly", name="Enterprise", sort_order=30, price_cents=9900,
         description="For teams.", feature_limits={"api_calls": 100000, "reports": 1000, "exports": 500}),
    dict(id=PRO_TRIAL_ID, code="pro_trial", name="Pro trial", sort_order=5, price_cents=0, trial_days=14,
         converts_to_plan_id=PRO_MONTHLY_ID, description="14 days of Pro, then Pro monthly.",
         feature_limits={"api_calls": 1000, "reports": 10, "exports": 5}),
]
FEATURES = [
    dict(key="api_calls", kind="metered", description="API calls per billing period"),
    dict(key="reports", kind="metered", description="Reports per billing period"),
    dict(key="exports", kind="metered", description="Exports per billing period"),
]
USERS = [
    dict(email="admin@test.com", role="admin", first_name="Admin", last_name="User"),
    dict(email="user@test.com", role="user", first_name="Test", last_name="User"),
]


def _seed_plan(values: dict) -> int:
    """Create the plan through the operator's own code path, or bring it back to the seed's values; 1 if created."""
    plan = db.session.get(Plan, values["id"])
    if plan is None:
        if db.session.scalar(select(Plan).where(Plan.code == values["code"])) is not None:
            raise RuntimeError(f"plan code {values['code']} exists with another id; refusing to seed")
        catalog_plans.create_plan(values, audit.SEED)
        return 1
    changes = {key: values[key] for key in catalog_plans.EDITABLE if getattr(plan, key) != values[key]}
    if changes:
        catalog_plans.update_plan(plan, changes, audit.SEED)
    if plan.price_cents != values["price_cents"]:
        catalog_plans.new_price(plan, values["price_cents"], audit.SEED)
    return 0


def seed() -> dict:
    """Create or update the seed rows; running it twice changes nothing.

    In production only the plans are seeded: create real admins with
    `flask users create-admin`.
    """
    counts = {"plans_created": 0, "users_created": 0}
    specs = [{"currency": "USD", "billing_interval": "month", "interval_count": 1, "trial_days": 0,
              "converts_to_plan_id": None, "description": None, "sort_order": 0, **spec}
             for spec in sorted(PLANS, key=lambda p: p.get("converts_to_plan_id") is not None)]
    # Checked before anything is written (the plans table refuses them too, with a less readable error).
    for values in specs:
        problem = interval_problem(values["billing_interval"], values["interval_count"])
        if problem:
            raise RuntimeError(f"seed plan {values['code']}: {problem}; refusing to seed")
    for spec in FEATURES:
        features.ensure_feature(spec, audit.SEED)
    for values in specs:
        counts["plans_created"] += _seed_plan(values)
    settings = current_app.config["SETTINGS"]
    # The well-known demo password never reaches a production database.
    for spec in ([] if settings.is_production else USERS):
        user = find_by_email(spec["email"])
        if user is None:
            db.session.add(User(password_hash=hash_password(SEED_PASSWORD, settings.bcrypt_rounds), **spec))
            counts["users_created"] += 1
        elif user.role != spec["role"]:
            user.role = spec["role"]
    db.session.commit()
    return counts
