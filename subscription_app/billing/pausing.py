"""Resume (undo a scheduled cancel or pause, or end a pause) and pause a subscription (docs/lifecycle.md).

A pause keeps the customer's paid time: the period end and the billing cycle anchor move
forward by the time spent paused, so nothing is charged at resume and the next renewal bills
the plan's full price on the moved date. While paused, renewals and dunning skip the
subscription and usage is refused; it is still the user's one live subscription.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app.billing import history, invoices
from subscription_app.billing.lifecycle import owned_subscription, with_latest_invoice
from subscription_app.billing.renewals import resume_paused
from subscription_app.models import Subscription

NOTHING_TO_RESUME = "Nothing to resume: the subscription is not paused, nor set to cancel or pause"


def resume(sub: Subscription, by: str) -> Subscription:
    """End a pause now, or undo a cancel or pause scheduled for the period end; 409 once it ended."""
    if not sub.is_live:
        raise ApiError(409, f"Subscription is {sub.status}; it can no longer be resumed, start a new one")
    now = clock.utcnow()
    if sub.status == "paused":
        resume_paused(sub, now, now, by)
    elif sub.cancel_at_period_end or sub.pause_at_period_end:
        _undo_scheduled_end(sub, now, by)
    else:
        raise ApiError(409, NOTHING_TO_RESUME)
    db.session.commit()
    return with_latest_invoice(sub)


def _undo_scheduled_end(sub: Subscription, now: datetime, by: str) -> None:
    if sub.current_period_end <= now:
        # The bill run may not have got to it yet; the period end is the moment that counts.
        raise ApiError(409, f"The period ended on {sub.current_period_end.isoformat()}; the scheduled change "
                            "already applies and can no longer be undone")
    undone = "cancel_undone" if sub.cancel_at_period_end else "pause_undone"
    sub.cancel_at_period_end, sub.canceled_at = False, None
    sub.pause_at_period_end, sub.resume_at = False, None
    history.record(sub, undone, {"by": by, "current_period_end": sub.current_period_end.isoformat()})


def resume_owned(user_id: int, subscription_id: uuid.UUID) -> Subscription:
    return resume(owned_subscription(user_id, subscription_id, for_update=True), "customer")


def resume_any(subscription_id: uuid.UUID) -> Subscription:
    """The operator's resume: any user's subscription."""
    sub = db.session.get(Subscription, subscription_id, with_for_update=True)
    if sub is None:
        raise ApiError(404, "Subscription not found")
    return resume(sub, "admin")


def pause(user_id: int, subscription_id: uuid.UUID, at: str, resume_at: datetime | None) -> Subscription:
    """Pause an active subscription now or from its period end, until `resume_at` or a resume."""
    sub = owned_subscription(user_id, subscription_id, for_update=True)
    now = clock.utcnow()
    _refuse_pause(sub, at, resume_at, now)
    sub.resume_at = resume_at
    if at == "period_end":
        sub.pause_at_period_end = True
        history.record(sub, "pause_scheduled", {"by": "customer", "at": sub.current_period_end.isoformat(),
                                                "resume_at": _iso(resume_at)})
    else:
        sub.status, sub.paused_at = "paused", now
        history.record(sub, "paused", {"by": "customer", "paused_at": now.isoformat(), "resume_at": _iso(resume_at)})
    db.session.commit()
    return with_latest_invoice(sub)


def _refuse_pause(sub: Subscription, at: str, resume_at: datetime | None, now: datetime) -> None:
    if sub.status != "active":
        raise ApiError(409, f"Only an active subscription can be paused; this one is {sub.status}")
    if sub.cancel_at_period_end or sub.pause_at_period_end:
        raise ApiError(409, "The subscription already has a cancel or pause scheduled; resume it first")
    if invoices.open_invoice(sub, "subscription_update") is not None:
        raise ApiError(409, "An upgrade is waiting for payment; pay or wait for it first")
    starts = sub.current_period_end if at == "period_end" else now
    if resume_at is not None and resume_at <= starts:
        raise ApiError(422, "resume_at must be after the pause starts",
                       errors={"json": {"resume_at": [f"Must be after {starts.isoformat()}."]}})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
