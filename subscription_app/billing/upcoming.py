"""The upcoming invoice: what the next renewal would bill if the period ended now (docs/usage-billing.md).

It follows the renewal step by step, only looking: the plan and anchor (renewals.renewal_plan,
or the trial's conversion), the price the renewal switches to (prices.next_price), the discount
line (without using a period), the usage so far, and the held credit the renewal would spend.
"""
from __future__ import annotations

from sqlalchemy import select

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app.billing import invoices
from subscription_app.billing.periods import next_period_end
from subscription_app.billing.renewals import conversion_plan, renewal_plan
from subscription_app.catalog import prices
from subscription_app.discounts import apply as discounts
from subscription_app.discounts import balance
from subscription_app.models import Plan, Subscription
from subscription_app.usage import arrears, plan_pricing

RENEWING = ("active", "trialing", "past_due")


def _renewing(user_id: int) -> Subscription:
    """The subscription whose period end bills something: it renews, or it ends owing usage (final invoice)."""
    sub = db.session.scalar(select(Subscription).where(Subscription.user_id == user_id,
                                                       Subscription.status.in_(RENEWING))
                            .order_by(Subscription.created_at.desc()).limit(1))
    if sub is None or sub.pause_at_period_end or (sub.cancel_at_period_end and sub.status == "trialing"):
        raise ApiError(404, "No upcoming invoice: no subscription renews at the end of this period")
    return sub


def _usage_lines(sub: Subscription, currency: str) -> list:
    if sub.status == "trialing":
        return []  # a trial's usage is not billed
    pricing = plan_pricing.of(sub.plan_id)
    soft = sorted(k for k, v in pricing.items() if v["limit_mode"] == "soft")
    used = arrears.used_so_far(sub.user_id, soft, sub.current_period_start)
    return arrears.priced_lines(sub.plan_id, used, pricing, sub.current_period_start, sub.current_period_end,
                                currency)


def _answer(sub: Subscription, reason: str, currency: str, start, end, lines: list) -> dict:
    """The invoice's figures from its lines (plan, discount, usage), with the held credit it would spend."""
    discount = -sum(line.amount_cents for line in lines if line.kind == "discount")
    total = sum(line.amount_cents for line in lines)
    held = balance.credit_held(sub.user_id, currency)
    applied = balance.applied_line(sub.user_id, currency, total, held=held)
    if applied is not None:
        lines = [*lines, applied]
    return {"subscription_id": sub.id, "reason": reason, "currency": currency, "period_start": start,
            "period_end": end, "usage_as_of": clock.utcnow(), "lines": lines, "subtotal_cents": total + discount,
            "discount_cents": discount, "total_cents": total, "credit_balance_cents": held,
            "applied_balance_cents": -applied.amount_cents if applied else 0,
            "amount_due_cents": total + (applied.amount_cents if applied else 0)}


def _final(sub: Subscription) -> dict:
    """Canceling at period end: the last period's usage is what the end will bill (billing/final_usage.py)."""
    currency = prices.price_of(sub, db.session.get(Plan, sub.plan_id)).currency
    lines = _usage_lines(sub, currency)
    if not lines:
        raise ApiError(404, "No upcoming invoice: the subscription ends at the end of this period")
    return _answer(sub, "subscription_final", currency, sub.current_period_start, sub.current_period_end, lines)


def upcoming(user_id: int) -> dict:
    sub = _renewing(user_id)
    if sub.cancel_at_period_end:
        return _final(sub)
    if sub.status == "trialing":
        plan, anchor = conversion_plan(sub), sub.current_period_end
        if plan is None:
            raise ApiError(404, "No upcoming invoice: the trial ends without converting")
    else:
        plan, anchor = renewal_plan(sub)
    price = prices.next_price(sub, plan)
    start = sub.current_period_end
    end = next_period_end(anchor, start, plan.billing_interval, plan.interval_count)
    line = invoices.plan_line(plan, start, end, amount_cents=price.amount_cents, currency=price.currency)
    lines = [line, *discounts.plan_discount_lines(sub, line, use=False), *_usage_lines(sub, price.currency)]
    reason = "trial_conversion" if sub.status == "trialing" else "subscription_cycle"
    return _answer(sub, reason, price.currency, start, end, lines)
