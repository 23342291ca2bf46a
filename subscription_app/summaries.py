"""What other services may learn about a user through the internal API."""
from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from subscription_app.models import LIVE_STATUSES, Plan, Subscription, User


def _iso(moment):
    return moment.isoformat() if moment else None


def subscription_summary(user_id: int) -> dict | None:
    """The user's live subscription (incomplete, trialing, active or past_due), or None."""
    sub = db.session.scalar(select(Subscription).where(Subscription.user_id == user_id,
                                                       Subscription.status.in_(LIVE_STATUSES)))
    if sub is None:
        return None
    plan = db.session.get(Plan, sub.plan_id)
    return {
        "id": str(sub.id),
        "plan_id": str(sub.plan_id),
        "plan_code": plan.code if plan else None,
        "status": sub.status,
        "is_active": sub.status in ("active", "trialing", "past_due"),
        "current_period_start": _iso(sub.current_period_start),
        "current_period_end": _iso(sub.current_period_end),
        "billing_cycle_anchor": _iso(sub.billing_cycle_anchor),
        "trial_end": _iso(sub.trial_end),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "payment_method_id": str(sub.payment_method_id) if sub.payment_method_id else None,
    }


def user_summary(user: User) -> dict:
    return {
        "user_id": user.id,
        "email": user.email,
        "role": user.role,
        "is_active": user.is_active,
        "subscription": subscription_summary(user.id),
    }
