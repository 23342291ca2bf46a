"""Which price a subscription pays: its own version, else its plan's current one.

Plans made before price versions (or straight in tests) have no version row: their own
price_cents/currency columns are the current price then.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update

from core.extensions import db
from subscription_app.catalog.models import PlanPrice
from subscription_app.models import Plan, Subscription


@dataclass(frozen=True)
class Price:
    amount_cents: int
    currency: str


def current_version(plan: Plan) -> PlanPrice | None:
    return db.session.scalar(select(PlanPrice).where(PlanPrice.plan_id == plan.id, PlanPrice.active.is_(True))
                             .order_by(PlanPrice.version.desc()).limit(1))


def versions(plan: Plan) -> list[PlanPrice]:
    return db.session.scalars(select(PlanPrice).where(PlanPrice.plan_id == plan.id)
                              .order_by(PlanPrice.version)).all()


def _new_row(plan: Plan, version: int, amount_cents: int) -> PlanPrice:
    price = PlanPrice(id=uuid.uuid4(), plan_id=plan.id, version=version, amount_cents=amount_cents,
                      currency=plan.currency, billing_interval=plan.billing_interval,
                      interval_count=plan.interval_count, active=True)
    db.session.add(price)
    return price


def _pin_subscribers(plan: Plan, price: PlanPrice) -> None:
    # Subscribers without a version pay the plan's columns, which are about to change: pin them first.
    db.session.execute(update(Subscription).where(Subscription.plan_id == plan.id, Subscription.price_id.is_(None))
                       .values(price_id=price.id).execution_options(synchronize_session="fetch"))


def add_version(plan: Plan, amount_cents: int) -> PlanPrice:
    """A new current price for `plan`; earlier versions stay with their subscribers."""
    latest = db.session.scalar(select(func.max(PlanPrice.version)).where(PlanPrice.plan_id == plan.id)) or 0
    if latest == 0 and amount_cents != plan.price_cents:  # a plan made before price versions existed
        latest = 1
        _pin_subscribers(plan, _new_row(plan, 1, plan.price_cents))
    price = _new_row(plan, latest + 1, amount_cents)
    plan.price_cents = amount_cents  # the plan's columns mirror its current price
    db.session.flush()
    return price


def price_of(sub: Subscription, plan: Plan) -> Price:
    """What `sub` pays for a period of `plan`: its own version while it is on that plan."""
    if sub.price_id is not None:
        own = db.session.get(PlanPrice, sub.price_id)
        if own is not None and own.plan_id == plan.id:
            return Price(own.amount_cents, own.currency)
    return Price(plan.price_cents, plan.currency)


def next_price(sub: Subscription, plan: Plan) -> Price:
    """What the next renewal bills for `plan`, as put_on_current_price or apply_pending_price will set it."""
    if plan.id != sub.plan_id:
        current = current_version(plan)
        return Price(current.amount_cents, current.currency) if current else Price(plan.price_cents, plan.currency)
    pending = db.session.get(PlanPrice, sub.pending_price_id) if sub.pending_price_id else None
    if pending is not None and pending.plan_id == sub.plan_id:
        return Price(pending.amount_cents, pending.currency)
    return price_of(sub, plan)


def put_on_current_price(sub: Subscription, plan: Plan) -> PlanPrice | None:
    """A subscriber joining `plan` (new, or by a plan change) takes its current version (returned).

    A caller that bills the period next keeps the returned row: the session holds loaded rows only
    while something refers to them, and price_of would otherwise read it again."""
    current = current_version(plan)
    sub.price_id = current.id if current is not None else None
    sub.pending_price_id = None
    return current


def apply_pending_price(sub: Subscription) -> None:
    """At a renewal: an operator's migration (catalog.migrate_price) takes effect now."""
    if sub.pending_price_id is None:
        return
    pending = db.session.get(PlanPrice, sub.pending_price_id)
    if pending is not None and pending.plan_id == sub.plan_id:
        sub.price_id = pending.id
    sub.pending_price_id = None
