"""Moving subscribers to a plan's current price, at their next period (never mid-period).

`migrate_price` marks each chosen live subscription with `pending_price_id`; the renewal that
starts its next period switches it (catalog/prices.apply_pending_price). A dry run lists
who would move and from which amount to which, and writes nothing.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select

from core.errors import ApiError
from core.extensions import db
from subscription_app.catalog import audit, prices
from subscription_app.catalog.audit import Actor
from subscription_app.models import LIVE_STATUSES, Plan, Subscription, User


def _candidates(plan: Plan, subscription_id: uuid.UUID | None):
    stmt = (select(Subscription, User.email).join(User, User.id == Subscription.user_id)
            .where(Subscription.plan_id == plan.id, Subscription.status.in_(LIVE_STATUSES))
            .order_by(Subscription.created_at, Subscription.id).with_for_update(of=Subscription))
    if subscription_id is not None:
        stmt = stmt.where(Subscription.id == subscription_id)
    return db.session.execute(stmt).all()


def migrate_price(plan: Plan, actor: Actor, subscription_id: uuid.UUID | None = None,
                  dry_run: bool = False) -> dict:
    """Move one subscriber (`subscription_id`) or all of `plan` to its current price at their next period."""
    target = prices.current_version(plan)
    if target is None:
        raise ApiError(409, "The plan has no price versions yet; issue a price first")
    rows = _candidates(plan, subscription_id)
    if subscription_id is not None and not rows:
        raise ApiError(422, "No live subscription of this plan has that id",
                       errors={"json": {"subscription_id": ["Not a live subscription of this plan."]}})
    movers = [(sub, email) for sub, email in rows
              if sub.price_id != target.id and sub.pending_price_id != target.id]
    moves = [_move(sub, email, plan, target) for sub, email in movers]
    if not dry_run:
        for sub, _ in movers:
            sub.pending_price_id = target.id
        db.session.flush()
        audit.record(actor, "plan.subscribers_migrated", "plan", plan.id, None,
                     {"price_id": target.id, "version": target.version, "subscriptions": moves})
    return {"plan_id": plan.id, "price_id": target.id, "version": target.version, "dry_run": dry_run,
            "count": len(moves), "subscriptions": moves}


def _move(sub: Subscription, email: str, plan: Plan, target) -> dict:
    old = prices.price_of(sub, plan)
    return {"subscription_id": sub.id, "email": email, "old_amount_cents": old.amount_cents,
            "new_amount_cents": target.amount_cents, "currency": target.currency,
            "effective_at": sub.current_period_end}
