"""Renewals, trial ends, dunning, expiry of unpaid subscriptions and interval changes (run by billing/cycle.py).

Every step is chosen by state and moves the state on in the same transaction, so running
it twice (two schedulers, a retried job) finds nothing left to do. Each step runs in batches
until nothing is due (billing/batches.py), so a bill run of any size completes.

Dunning: a failed renewal (or trial conversion) makes the subscription `past_due`. The
retries are DUNNING_RETRY_DAYS (default 1,3,5) days after the invoice's due date (its
period start); each retry is a new charge attempt (idempotency key `<invoice>:<n>`).
When the last retry fails, the subscription is `canceled` and the invoice `uncollectible`.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from core.extensions import db
from subscription_app.billing import final_usage, history, invoices
from subscription_app.billing.batches import Progress, StepResult, run_in_batches
from subscription_app.billing.lifecycle import end_now
from subscription_app.billing.periods import next_period_end, same_cycle
from subscription_app.catalog import prices
from subscription_app.models import Invoice, InvoiceLine, Plan, Subscription, SubscriptionEvent

log = logging.getLogger(__name__)


# -- renewals and trial ends ---------------------------------------------------------------

def renew_or_end(sub: Subscription, now: datetime) -> None:
    """A period has ended: cancel, convert the trial, or start the next period and charge it."""
    if sub.cancel_at_period_end:
        usage = final_usage.close_usage(sub, sub.current_period_end)
        end_now(sub, "canceled", sub.current_period_end)
        final_usage.final_invoice(sub, usage, sub.current_period_end, now)
        return
    if sub.pause_at_period_end:
        _begin_scheduled_pause(sub)
        return
    if sub.status == "trialing":
        _end_trial(sub, now)
        return
    # An upgrade offer not paid within its period lapses with it.
    invoices.void_open_invoices(sub, now, reason="subscription_update")
    plan, sub.billing_cycle_anchor = renewal_plan(sub)
    sub.pending_plan_id = None
    _start_paid_period(sub, plan, "subscription_cycle", now)


def renewal_plan(sub: Subscription) -> tuple[Plan, datetime]:
    """The plan an active subscription's next renewal bills, and the anchor its next period follows."""
    plan = db.session.get(Plan, sub.plan_id)
    if sub.pending_plan_id is None:
        return plan, sub.billing_cycle_anchor
    pending = db.session.get(Plan, sub.pending_plan_id)  # a downgrade scheduled for the period end
    # Another period length (e.g. month -> year): the new cycle starts at the period end.
    return pending, sub.billing_cycle_anchor if same_cycle(plan, pending) else sub.current_period_end


def _begin_scheduled_pause(sub: Subscription) -> None:
    """Paused from the period end: nothing is charged, no paid time is left to keep."""
    invoices.void_open_invoices(sub, sub.current_period_end, reason="subscription_update")
    sub.status, sub.paused_at, sub.pause_at_period_end = "paused", sub.current_period_end, False
    history.record(sub, "paused", {"by": "schedule", "paused_at": sub.paused_at.isoformat(),
                                   "resume_at": sub.resume_at.isoformat() if sub.resume_at else None})


def resume_paused(sub: Subscription, at: datetime, now: datetime, by: str) -> None:
    """End a pause at `at`: the period and anchor move by the paused time; a period already over renews now."""
    paused_for = at - sub.paused_at
    sub.current_period_end += paused_for
    sub.billing_cycle_anchor += paused_for
    sub.status, sub.paused_at, sub.resume_at = "active", None, None
    history.record(sub, "resumed", {"by": by, "paused_seconds": int(paused_for.total_seconds()),
                                    "current_period_end": sub.current_period_end.isoformat()})
    if sub.current_period_end <= now:
        renew_or_end(sub, now)


def _closed_usage(sub: Subscription, reason: str) -> list:
    """The ending period's usage, priced with the plan in force at its end (a trial's usage is free)."""
    return final_usage.close_usage(sub, sub.current_period_end) if reason == "subscription_cycle" else []


def _start_paid_period(sub: Subscription, plan: Plan, reason: str, now: datetime) -> None:
    start = sub.current_period_end
    end = next_period_end(sub.billing_cycle_anchor, start, plan.billing_interval, plan.interval_count)
    usage = _closed_usage(sub, reason)
    if sub.plan_id != plan.id:  # a downgrade or a trial's conversion: the new plan's current price
        prices.put_on_current_price(sub, plan)
    else:
        prices.apply_pending_price(sub)
    sub.plan_id = plan.id
    sub.current_period_start, sub.current_period_end = start, end
    invoice = invoices.plan_invoice(sub, plan, reason, start, end, now, usage_lines=tuple(usage))
    if invoice.status == "paid":
        return
    if sub.payment_method_id is not None:
        invoices.request_charge(invoice, sub, f"{plan.name} renewal" if reason == "subscription_cycle"
                                else f"{plan.name} after trial")
    else:
        # Nothing saved to charge: the attempt fails at once; the open invoice can still be
        # paid with POST /v1/payments/process until dunning gives up.
        invoice.attempt_count += 1
        record_failure(sub, invoice, now)


def conversion_plan(sub: Subscription) -> Plan | None:
    """What a trial converts to: a plan chosen during the trial, else the trial plan's paid plan."""
    plan = db.session.get(Plan, sub.pending_plan_id or sub.plan_id)
    if plan.trial_days > 0:
        return db.session.get(Plan, plan.converts_to_plan_id) if plan.converts_to_plan_id else None
    return plan


def _end_trial(sub: Subscription, now: datetime) -> None:
    paid_plan = conversion_plan(sub)
    if paid_plan is None or sub.payment_method_id is None:
        end_now(sub, "expired", sub.current_period_end)
        return
    # Stays `trialing` (still live) until the conversion charge succeeds -> active,
    # or fails -> past_due. The period already moved on, so this runs once.
    sub.billing_cycle_anchor = sub.current_period_end  # the paid cycle starts at conversion
    sub.pending_plan_id = None
    _start_paid_period(sub, paid_plan, "trial_conversion", now)


def end_trial_now(sub: Subscription, now: datetime) -> None:
    """The customer ends the trial early: it converts at this moment, as it would at its end."""
    sub.trial_end = sub.current_period_end = now
    _end_trial(sub, now)


def run_renewals(**run) -> StepResult:
    # A past_due subscription is renewed only once its dunning ends; if it was set to cancel
    # at the period end, that end still applies.
    return run_in_batches(
        "renewed_or_ended",
        lambda now: (or_(Subscription.status.in_(("active", "trialing")),
                         and_(Subscription.status == "past_due", Subscription.cancel_at_period_end.is_(True))),
                     Subscription.current_period_end <= now),
        renew_or_end, **run)


# -- dunning -------------------------------------------------------------------------------

def _retry_days() -> tuple[int, ...]:
    return tuple(current_app.config["SETTINGS"].dunning_retry_days)


def record_failure(sub: Subscription, invoice: Invoice, now: datetime) -> None:
    """A renewal or conversion charge failed: past_due and the next retry, or the end."""
    if sub.status not in ("active", "trialing", "past_due"):
        return
    sub.failed_payment_attempts += 1
    days = _retry_days()
    if sub.failed_payment_attempts > len(days):
        invoice.status = "uncollectible"
        end_now(sub, "canceled", now)  # anything else still open is voided
        log.warning("subscription %s canceled after %s failed payments", sub.id, sub.failed_payment_attempts)
        return
    due = invoice.period_start or now
    sub.status = "past_due"
    sub.next_payment_attempt_at = max(now, due + timedelta(days=days[sub.failed_payment_attempts - 1]))


def due_invoice(sub: Subscription) -> Invoice | None:
    """The open renewal or conversion invoice dunning is trying to collect."""
    return db.session.scalar(select(Invoice).where(
        Invoice.subscription_id == sub.id, Invoice.status == "open",
        Invoice.reason.in_(("subscription_cycle", "trial_conversion"))).order_by(Invoice.number.desc()))


def retry_payment(sub: Subscription, now: datetime) -> None:
    invoice = due_invoice(sub)
    if invoice is None:
        # Paid some other way in the meantime; the payment event already made it active.
        log.warning("past_due subscription %s has no open invoice; marking active", sub.id)
        sub.status, sub.failed_payment_attempts, sub.next_payment_attempt_at = "active", 0, None
        return
    sub.next_payment_attempt_at = None  # an attempt is in flight; its outcome schedules the next
    if sub.payment_method_id is not None:
        invoices.request_charge(invoice, sub, f"Retry {sub.failed_payment_attempts + 1} of a failed payment")
    else:
        invoice.attempt_count += 1
        record_failure(sub, invoice, now)


def run_dunning(**run) -> StepResult:
    return run_in_batches(
        "dunning_retries",
        lambda now: (Subscription.status == "past_due", Subscription.next_payment_attempt_at <= now),
        retry_payment, **run)


# -- unpaid new subscriptions --------------------------------------------------------------

def _expiry_hours() -> int:
    return int(current_app.config["SETTINGS"].incomplete_expiry_hours)


def expire_unpaid(sub: Subscription, now: datetime) -> None:
    end_now(sub, "incomplete_expired", now)


def run_expiry(**run) -> StepResult:
    return run_in_batches(
        "expired",
        lambda now: (Subscription.status == "incomplete",
                     Subscription.current_period_start <= now - timedelta(hours=_expiry_hours())),
        expire_unpaid, **run)


# -- unpaid interval changes -----------------------------------------------------------------

def lapse_interval_change(sub: Subscription, now: datetime) -> None:
    invoices.void_open_invoices(sub, now, reason="subscription_update")


def run_lapsed_changes(**run) -> StepResult:
    """Void interval changes (billing/plan_change.py) still unpaid INCOMPLETE_EXPIRY_HOURS after they were priced.

    Their credit counts the old plan's unused time from the moment of the change; a same-interval
    upgrade keeps its period and lapses with it instead (renew_or_end).
    """
    def conditions(now):
        stale = (select(Invoice.subscription_id).join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
                 .where(Invoice.status == "open", Invoice.reason == "subscription_update", InvoiceLine.kind == "plan",
                        Invoice.period_start <= now - timedelta(hours=_expiry_hours())))
        return (Subscription.id.in_(stale),)
    return run_in_batches("lapsed_plan_changes", conditions, lapse_interval_change, **run)


def auto_resume(sub: Subscription, now: datetime) -> None:
    # Ended at `resume_at` itself, not at the bill run's moment, so a late run gives no free days.
    resume_paused(sub, sub.resume_at, now, "schedule")


def run_auto_resumes(**run) -> StepResult:
    return run_in_batches(
        "resumed", lambda now: (Subscription.status == "paused", Subscription.resume_at <= now),
        auto_resume, **run)


# -- trial ending notices ----------------------------------------------------------------------

def notify_trial_will_end(sub: Subscription, now: datetime) -> None:
    # Logged and in the history until integrator webhooks deliver it; the NOT EXISTS below makes it once-only.
    history.record(sub, "trial_will_end", {"trial_end": sub.trial_end.isoformat(),
                                           "days_before": current_app.config["SETTINGS"].trial_will_end_days})
    log.info("subscription.trial_will_end: subscription %s, trial ends %s", sub.id, sub.trial_end.isoformat())


def run_trial_notices(**run) -> StepResult:
    def conditions(now):
        days = current_app.config["SETTINGS"].trial_will_end_days
        told = select(SubscriptionEvent.id).where(SubscriptionEvent.subscription_id == Subscription.id,
                                                  SubscriptionEvent.type == "trial_will_end")
        return (Subscription.status == "trialing", Subscription.trial_end > now,
                Subscription.trial_end <= now + timedelta(days=days), ~told.exists())
    return run_in_batches("trial_will_end", conditions, notify_trial_will_end, **run)


STEPS = (("resumed", run_auto_resumes), ("renewed_or_ended", run_renewals), ("dunning_retries", run_dunning), ("expired", run_expiry),
         ("lapsed_plan_changes", run_lapsed_changes), ("trial_will_end", run_trial_notices))


def run_cycle(progress: Progress | None = None, deadline: float | None = None) -> dict:
    """Everything time-driven, each step until nothing is due or `deadline` (time.monotonic()) passes.

    Counts per step, `failed` (rows whose step raised: logged, retried by the next run) and
    `complete` (False when the deadline stopped it: the rest is still due).
    """
    summary = {name: 0 for name, _ in STEPS} | {"failed": 0, "complete": True}
    for name, step in STEPS:
        result = step(progress=progress, deadline=deadline)
        summary[name] = result.done
        summary["failed"] += result.failed
        if not result.complete:
            summary["complete"] = False
            break
    return summary
