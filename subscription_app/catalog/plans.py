"""Operator actions on plans: create, edit, archive, new price versions. The API, the CLI and the seed call these.

Every function checks its whole input before writing anything, writes its audit row in the
same transaction, and leaves the commit to its caller (the idempotency decorator, a route or
a CLI command), so a refused action writes nothing.
"""
from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from core.errors import ApiError
from core.extensions import db
from core.money import is_currency
from subscription_app.billing.periods import interval_problem
from subscription_app.catalog import audit, features, prices
from subscription_app.catalog.audit import Actor
from subscription_app.models import LIVE_STATUSES, Plan, Subscription
from subscription_app.usage import entitlements, plan_pricing

EDITABLE = ("name", "description", "feature_limits", "sort_order")  # columns of plans
PRICING = "usage_pricing"  # rows of plan_feature_prices (usage/plan_pricing.py)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"Invalid {field}: {message}", errors={"json": {field: [message]}})


def snapshot(plan: Plan) -> dict:
    return {"id": plan.id, "code": plan.code, "name": plan.name, "description": plan.description,
            "price_cents": plan.price_cents, "currency": plan.currency, "billing_interval": plan.billing_interval,
            "interval_count": plan.interval_count, "trial_days": plan.trial_days,
            "converts_to_plan_id": plan.converts_to_plan_id, "feature_limits": dict(plan.feature_limits or {}),
            "is_active": plan.is_active, "sort_order": plan.sort_order,
            "usage_pricing": plan_pricing.of(plan.id) if plan.id else {}}


def get_plan(plan_id: uuid.UUID) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise ApiError(404, "Plan not found")
    return plan


def list_plans(include_archived: bool = True) -> list[Plan]:
    stmt = select(Plan).order_by(Plan.sort_order, Plan.price_cents, Plan.code)
    return db.session.scalars(stmt if include_archived else stmt.where(Plan.is_active.is_(True))).all()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:64]


def _check_name(name: str, plan_id: uuid.UUID | None = None) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise invalid("name", "Must be 1 to 100 characters.")
    clash = select(Plan.id).where(func.lower(Plan.name) == name.strip().lower())
    if plan_id is not None:
        clash = clash.where(Plan.id != plan_id)
    if db.session.scalar(clash) is not None:
        raise invalid("name", f"A plan named {name.strip()!r} exists already.")


def _check_price(amount_cents) -> None:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents < 0:
        raise invalid("price_cents", "Must be a whole number of minor units, 0 or more.")


def _check_new(spec: dict) -> str:
    _check_name(spec["name"])
    code = spec.get("code") or _slug(spec["name"])
    if not re.fullmatch(r"[a-z0-9_]{1,64}", code):
        raise invalid("code", "Must be 1 to 64 of a-z, 0-9 and _.")
    if db.session.scalar(select(Plan.id).where(Plan.code == code)) is not None:
        raise invalid("code", f"A plan with code {code!r} exists already.")
    _check_price(spec["price_cents"])
    if not is_currency(spec.get("currency", "USD")):
        raise invalid("currency", "Must be an ISO 4217 currency code like USD.")
    problem = interval_problem(spec.get("billing_interval", "month"), spec.get("interval_count", 1))
    if problem:
        raise invalid("interval_count" if "interval_count" in problem else "billing_interval", problem)
    converts = spec.get("converts_to_plan_id")
    if converts is not None and db.session.get(Plan, converts) is None:
        raise invalid("converts_to_plan_id", "No such plan.")
    features.check_limits(spec.get("feature_limits") or {})
    plan_pricing.check(spec.get("usage_pricing") or {}, features.kinds())
    return code


def create_plan(spec: dict, actor: Actor) -> Plan:
    """A new plan with price version 1; `spec` may carry a fixed id (the seed's well-known ones)."""
    code = _check_new(spec)
    plan = Plan(id=spec.get("id") or uuid.uuid4(), code=code, name=spec["name"].strip(),
                description=spec.get("description"), price_cents=spec["price_cents"],
                currency=spec.get("currency", "USD"), billing_interval=spec.get("billing_interval", "month"),
                interval_count=spec.get("interval_count", 1), trial_days=spec.get("trial_days", 0),
                converts_to_plan_id=spec.get("converts_to_plan_id"),
                feature_limits=dict(spec.get("feature_limits") or {}), sort_order=spec.get("sort_order", 0),
                is_active=True)
    db.session.add(plan)
    db.session.flush()
    plan_pricing.replace(plan.id, plan_pricing.check(spec.get("usage_pricing") or {}, features.kinds()))
    prices.add_version(plan, plan.price_cents)
    audit.record(actor, "plan.created", "plan", plan.id, None, snapshot(plan))
    return plan


def update_plan(plan: Plan, changes: dict, actor: Actor) -> Plan:
    """Name, description, limits or order; a price changes only through new_price."""
    unknown = set(changes) - {*EDITABLE, PRICING}
    if unknown:
        field = sorted(unknown)[0]
        raise invalid(field, "Cannot be edited here" + ("; issue a new price instead." if "price" in field else "."))
    if "name" in changes:
        _check_name(changes["name"], plan.id)
    if "feature_limits" in changes:
        features.check_limits(changes["feature_limits"] or {})
    pricing = changes.pop(PRICING, None)
    if pricing is not None:
        pricing = plan_pricing.check(pricing, features.kinds())
    before = snapshot(plan)
    for key, value in changes.items():
        setattr(plan, key, value.strip() if key == "name" else value)
    if pricing is not None:
        plan_pricing.replace(plan.id, pricing)
    if (changes.get("feature_limits", before["feature_limits"]) != before["feature_limits"]
            or (pricing is not None and pricing != before["usage_pricing"])):
        entitlements.invalidate_after_commit(_subscriber_ids(plan))
    db.session.flush()
    audit.record(actor, "plan.updated", "plan", plan.id, before, snapshot(plan))
    return plan


def _subscriber_ids(plan: Plan) -> list[int]:
    return db.session.scalars(select(Subscription.user_id).where(
        Subscription.plan_id == plan.id, Subscription.status.in_(LIVE_STATUSES))).all()


def set_archived(plan: Plan, archived: bool, actor: Actor) -> Plan:
    """An archived plan takes no new subscribers; its existing ones keep it and renew on it."""
    before = snapshot(plan)
    plan.is_active = not archived
    db.session.flush()
    audit.record(actor, "plan.archived" if archived else "plan.unarchived", "plan", plan.id, before,
                 snapshot(plan))
    return plan


def new_price(plan: Plan, amount_cents, actor: Actor):
    """A new current price version; existing subscribers stay on theirs until migrated."""
    _check_price(amount_cents)
    if amount_cents == plan.price_cents:
        raise invalid("price_cents", f"Is the current price already ({amount_cents}).")
    before = snapshot(plan)
    price = prices.add_version(plan, amount_cents)
    audit.record(actor, "plan.price_created", "plan", plan.id, before, {**snapshot(plan), "price_id": price.id,
                                                                          "version": price.version})
    return price


def list_prices(plan: Plan):
    return prices.versions(plan)
