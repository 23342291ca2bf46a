"""The operator's subscriptions: a filtered list, and actions through the customer routes' own domain functions.

Those functions commit their change themselves (as for the customer), so each action here
writes its audit row right after, in the next commit.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from core import clock
from core.errors import ApiError
from core.extensions import db
from core.pagination import list_page
from subscription_app.backoffice.customers import email_starts_with
from subscription_app.billing import discount_changes, history, lifecycle, pausing, plan_change
from subscription_app.billing.lifecycle import with_latest_invoice
from subscription_app.catalog import audit
from subscription_app.catalog.audit import Actor
from subscription_app.discounts.models import Discount
from subscription_app.integrations import dump
from subscription_app.models import Subscription, User

MAX_TRIAL_EXTENSION = timedelta(days=365)
ORDER = [Subscription.created_at, Subscription.id]  # newest first; ix_subscriptions_created_id


def filtered(status: str | None = None, plan_id: uuid.UUID | None = None, email_prefix: str | None = None):
    """Subscriptions by status, plan, and their customer's email prefix."""
    stmt = select(Subscription)
    if status:
        stmt = stmt.where(Subscription.status == status)
    if plan_id:
        stmt = stmt.where(Subscription.plan_id == plan_id)
    if email_prefix:
        stmt = stmt.where(Subscription.user_id.in_(select(User.id).where(email_starts_with(email_prefix))))
    return stmt


def search(paging: dict, **filters) -> dict:
    return list_page(filtered(**filters), ORDER, paging)


def _state(sub: Subscription) -> dict:
    return {"status": sub.status, "plan_id": sub.plan_id, "pending_plan_id": sub.pending_plan_id,
            "cancel_at_period_end": sub.cancel_at_period_end, "current_period_end": sub.current_period_end,
            "trial_end": sub.trial_end}


def load(subscription_id: uuid.UUID, for_update: bool = False) -> Subscription:
    sub = db.session.get(Subscription, subscription_id, with_for_update=for_update)
    if sub is None:
        raise ApiError(404, "Subscription not found")
    return sub


def _audited(actor: Actor, action: str, before: dict, sub: Subscription) -> Subscription:
    audit.record(actor, action, "subscription", sub.id, before, _state(sub))
    db.session.commit()
    return sub


def cancel(subscription_id: uuid.UUID, at_period_end: bool, actor: Actor) -> Subscription:
    """Cancel now (open invoices voided) or at the period end, exactly as the customer can."""
    sub = load(subscription_id)
    before = _state(sub)
    done = lifecycle.cancel(sub.user_id, sub.id, at_period_end=at_period_end)
    return _audited(actor, "subscription.cancel_at_period_end" if at_period_end else "subscription.cancel",
                    before, done)


def resume(subscription_id: uuid.UUID, actor: Actor) -> Subscription:
    """Un-cancel (or end a pause): pausing.resume, recorded as `by: admin` in the subscription's history."""
    sub = load(subscription_id, for_update=True)
    before = _state(sub)
    return _audited(actor, "subscription.resume", before, pausing.resume(sub, "admin"))


def change_plan(subscription_id: uuid.UUID, plan_id: uuid.UUID, proration: str, actor: Actor) -> Subscription:
    """Price the change with the chosen proration (a quote, as the customer's preview) and bill exactly that."""
    sub = load(subscription_id)
    before = _state(sub)
    if sub.status == "trialing":
        done = plan_change.change_plan(sub.user_id, sub.id, plan_id)
    else:
        quote = plan_change.preview(sub.user_id, sub.id, plan_id, proration)
        done = plan_change.change_plan(sub.user_id, sub.id, plan_id, quote_id=quote["quote_id"])
    return _audited(actor, f"subscription.change_plan.{proration}", before, done)


def extend_trial(subscription_id: uuid.UUID, trial_end: datetime, actor: Actor) -> Subscription:
    """Move a running trial's end (and so its period end) later, up to a year past the current end."""
    sub = load(subscription_id, for_update=True)
    if sub.status != "trialing":
        raise ApiError(409, f"Only a trialing subscription can have its trial extended; this one is {sub.status}")
    if not clock.utcnow() < sub.trial_end < trial_end <= sub.trial_end + MAX_TRIAL_EXTENSION:
        raise ApiError(422, "Validation failed", errors={"json": {"trial_end": [
            f"Must be after the current trial end ({sub.trial_end.isoformat()}) and at most "
            f"{MAX_TRIAL_EXTENSION.days} days past it."]}})
    before = _state(sub)
    sub.trial_end = sub.current_period_end = trial_end
    history.record(sub, "trial_extended", {"by": "admin", "from": before["trial_end"].isoformat(),
                                           "to": trial_end.isoformat()})
    return with_latest_invoice(_audited(actor, "subscription.extend_trial", before, sub))


def delete_discount(subscription_id: uuid.UUID, actor: Actor) -> Discount:
    """Remove the subscription's discount (discount_changes.remove_discount), audited with what it was."""
    sub = load(subscription_id, for_update=True)
    discount = discount_changes.remove_discount(sub, "admin")
    audit.record(actor, "subscription.discount_deleted", "subscription", sub.id, {"discount": dump(discount)},
                 {"discount": None})
    db.session.commit()
    return discount
