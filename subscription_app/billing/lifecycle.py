"""Subscription lifecycle: create (paid or trial), read, cancel.

States (DESIGN.md, docs/lifecycle.md): incomplete -> active | incomplete_expired; trialing -> active |
expired | canceled; active -> past_due -> active | canceled; active <-> paused; any live -> canceled.
Only a payment.succeeded event makes a subscription active (billing/events.py).
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from core import clock
from core.errors import ApiError
from core.extensions import db
from core.pagination import list_page
from subscription_app import integrations
from subscription_app.billing import final_usage, invoices, payment_methods
from subscription_app.billing.periods import plan_period_end
from subscription_app.catalog import prices
from subscription_app.discounts import apply as discounts
from subscription_app.discounts import redeem
from subscription_app.models import LIVE_STATUSES, Plan, Subscription

# What counts as "the user's active subscription": paid up, in trial, or being dunned.
# An incomplete subscription (waiting for its first payment) is never reported active.
ACTIVE_STATUSES = ("active", "trialing", "past_due")
ONE_LIVE_INDEX = "uq_subscriptions_one_live_per_user"
ONE_TRIAL_INDEX = "uq_subscriptions_one_trial_per_user"


def load_plan(plan_id: uuid.UUID, field: str = "plan_id") -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise ApiError(404, "Plan not found")
    if not plan.is_active:
        raise ApiError(422, "This plan is no longer offered", errors={"json": {field: ["Plan is not active."]}})
    return plan


def is_trial_plan(plan: Plan) -> bool:
    return plan.trial_days > 0


def owned_subscription(user_id: int, subscription_id: uuid.UUID, for_update: bool = False) -> Subscription:
    """Another user's subscription is a 404, exactly like a missing one."""
    stmt = select(Subscription).where(Subscription.id == subscription_id, Subscription.user_id == user_id)
    sub = db.session.scalar(stmt.with_for_update() if for_update else stmt)
    if sub is None:
        raise ApiError(404, "Subscription not found")
    return sub


def with_latest_invoice(sub: Subscription, invoice=None) -> Subscription:
    """The subscription as the API answers it: with its latest invoice and its live discount."""
    sub.latest_invoice = invoice if invoice is not None else invoices.latest_invoice(sub)
    sub.discount = discounts.with_coupon(discounts.live_discount(sub))
    return sub


def active_subscription(user_id: int) -> Subscription:
    sub = db.session.scalar(select(Subscription).where(Subscription.user_id == user_id,
                                                       Subscription.status.in_(ACTIVE_STATUSES)))
    if sub is None:
        raise ApiError(404, "No active subscription")
    return with_latest_invoice(sub)


def live_subscription(user_id: int) -> Subscription | None:
    return db.session.scalar(select(Subscription).where(Subscription.user_id == user_id,
                                                        Subscription.status.in_(LIVE_STATUSES)))


def list_subscriptions(user_id: int, args: dict) -> dict:
    return list_page(select(Subscription).where(Subscription.user_id == user_id),
                     [Subscription.created_at, Subscription.id], args)


def _refuse_if_live(user_id: int) -> None:
    # A cheap early answer (no card is sent to the payment service for nothing); the
    # partial unique index is what really guarantees one live subscription under races.
    if live_subscription(user_id) is not None:
        raise ApiError(409, "You already have a live subscription; cancel it or change its plan")


def _payment_method(user_id: int, card: dict | None, payment_method_id: uuid.UUID | None) -> uuid.UUID | None:
    if card is not None:
        return payment_methods.tokenise(user_id, card)
    return payment_method_id


def _insert(sub: Subscription) -> None:
    """Insert now (invoices refer to it); the partial unique indexes answer races with 409."""
    db.session.add(sub)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if constraint == ONE_TRIAL_INDEX:
            raise ApiError(409, "A trial can be used only once per account") from None
        if constraint == ONE_LIVE_INDEX:
            raise ApiError(409, "You already have a live subscription; cancel it or change its plan") from None
        raise
    integrations.emit("subscription.created", "subscription", sub.id, integrations.dump(sub))


def create(user_id: int, plan_id: uuid.UUID, card: dict | None = None,
           payment_method_id: uuid.UUID | None = None, promotion_code: str | None = None) -> Subscription:
    """A new `incomplete` subscription and its open invoice; with a method, the charge is requested.

    A promotion code is checked before the card is sent anywhere and redeemed with the insert.

    Flushed, not committed: the caller commits (core.idempotency, with the stored answer).
    """
    plan = load_plan(plan_id)
    if is_trial_plan(plan):
        raise ApiError(422, "This is a trial plan: use POST /v1/subscriptions/trial",
                       errors={"json": {"plan_id": ["Trial plans start with /v1/subscriptions/trial."]}})
    _refuse_if_live(user_id)
    code = redeem.resolve(promotion_code, user_id, plan) if promotion_code else None
    method_id = _payment_method(user_id, card, payment_method_id)
    now = clock.utcnow()
    end = plan_period_end(plan, now)
    sub = Subscription(id=uuid.uuid4(), user_id=user_id, plan_id=plan.id, status="incomplete",
                       current_period_start=now, current_period_end=end, billing_cycle_anchor=now,
                       payment_method_id=method_id, cancel_at_period_end=False, failed_payment_attempts=0)
    _price = prices.put_on_current_price(sub, plan)  # held, so plan_invoice finds it in the session
    _insert(sub)
    if code is not None:
        redeem.redeem(code, sub)
    invoice = invoices.plan_invoice(sub, plan, "subscription_create", now, end, now)
    if invoice.status == "paid":  # a free plan: nothing to collect
        sub.status = "active"
    elif method_id is not None:
        invoices.request_charge(invoice, sub, f"{plan.name} subscription")
    db.session.flush()
    # An invoice made in this request has no credit notes yet; without a code the new subscription has no discount.
    set_committed_value(invoice, "credit_notes", [])
    if code is None:
        sub.latest_invoice, sub.discount = invoice, None
        return sub
    return with_latest_invoice(sub, invoice)


def start_trial(user_id: int, trial_plan_id: uuid.UUID, card: dict | None = None) -> Subscription:
    """`trialing` at once; a card is saved and verified by a zero-amount authorisation.

    Flushed, not committed: the caller commits (core.idempotency, with the stored answer).
    """
    plan = load_plan(trial_plan_id, field="trial_plan_id")
    if not is_trial_plan(plan) or plan.converts_to_plan_id is None:
        raise ApiError(422, "Not a trial plan", errors={"json": {"trial_plan_id": ["Not a trial plan."]}})
    if db.session.scalar(select(Subscription.id).where(Subscription.user_id == user_id,
                                                       Subscription.trial_start.is_not(None)).limit(1)):
        raise ApiError(409, "A trial can be used only once per account")
    _refuse_if_live(user_id)
    paid_plan = db.session.get(Plan, plan.converts_to_plan_id)
    method_id = _payment_method(user_id, card, None)
    now = clock.utcnow()
    trial_end = now + timedelta(days=plan.trial_days)
    # Anchored at the trial start for now; the paid cycle is re-anchored at conversion (renewals._end_trial).
    sub = Subscription(id=uuid.uuid4(), user_id=user_id, plan_id=plan.id, status="trialing",
                       current_period_start=now, current_period_end=trial_end, billing_cycle_anchor=now,
                       trial_start=now, trial_end=trial_end, payment_method_id=method_id,
                       cancel_at_period_end=False, failed_payment_attempts=0)
    prices.put_on_current_price(sub, plan)
    _insert(sub)
    if method_id is not None:
        invoices.request_verification(sub, paid_plan.currency)
    db.session.flush()
    sub.latest_invoice = None
    return sub


def cancel(user_id: int, subscription_id: uuid.UUID, at_period_end: bool = False) -> Subscription:
    sub = owned_subscription(user_id, subscription_id, for_update=True)
    if not sub.is_live:
        raise ApiError(409, f"Subscription is already {sub.status}")
    now = clock.utcnow()
    if sub.cancel_at_period_end and not at_period_end:
        _refuse_ending_a_scheduled_cancel_now(sub)
    if at_period_end:
        if sub.status == "incomplete":
            raise ApiError(409, "An unpaid subscription can only be canceled immediately")
        if sub.cancel_at_period_end:
            raise ApiError(409, "Subscription is already set to cancel at the end of its period")
        if sub.status == "paused" or sub.pause_at_period_end:
            raise ApiError(409, "A paused subscription (or one set to pause) has no period left to run out; "
                                "resume it first, or cancel it now")
        sub.cancel_at_period_end = True
        sub.canceled_at = now
        integrations.emit("subscription.updated", "subscription", sub.id, integrations.dump(sub))
    else:
        usage = final_usage.close_usage(sub, now)
        end_now(sub, "canceled", now)
        final_usage.final_invoice(sub, usage, now, now)
    db.session.commit()
    return with_latest_invoice(sub)


def _refuse_ending_a_scheduled_cancel_now(sub: Subscription) -> None:
    """Ending it now would silently give up the rest of a paid period, with no refund: say so instead."""
    end = sub.current_period_end.isoformat()
    raise ApiError(409, f"Subscription is already set to cancel at the end of its period, on {end}; to end it "
                        "now instead, resume it first (undo the scheduled cancel), then cancel it",
                   errors={"query": {"at_period_end": ["Already canceling at the period end."]}},
                   extra={"current_period_end": end})


def end_now(sub: Subscription, status: str, now, void_invoices: bool = True) -> None:
    """End a live subscription: no more charges; its open invoices are voided unless told otherwise."""
    sub.status = status
    sub.ended_at = now
    if status == "canceled" and sub.canceled_at is None:
        sub.canceled_at = now
    sub.next_payment_attempt_at = None
    sub.pending_plan_id = None
    integrations.emit(f"subscription.{'canceled' if status == 'canceled' else 'updated'}", "subscription", sub.id,
                      integrations.dump(sub))
    if void_invoices:
        invoices.void_open_invoices(sub, now)
