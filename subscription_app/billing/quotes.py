"""Binding plan-change quotes (docs/lifecycle.md#binding-proration-quotes).

A preview prices the change with the same proration rules as PUT .../plan (billing/proration.py)
and stores the answer with the subscription's version. PUT .../plan with the quote_id bills
exactly the stored lines, so the amount cannot drift between preview and payment; any change
to the subscription since (its version moved), a used quote or an expired one is a 409.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app.billing import invoices
from subscription_app.billing.periods import plan_period_end, same_cycle
from subscription_app.billing.proration import prorate_interval_change, prorate_upgrade, remaining_seconds
from subscription_app.catalog import prices
from subscription_app.discounts import balance
from subscription_app.models import InvoiceLine, Plan, PlanChangeQuote, Subscription

QUOTE_TTL = timedelta(minutes=15)  # long enough to read and confirm, short enough that the price stays fair
ROUNDING = {"upgrade": "amount = floor((new - old) * remaining / period); credit = -ceil(old * remaining / period)",
            "interval_change": "credit = -ceil(old * remaining / period); amount = max(0, new + credit), "
                               "the rest to the customer balance",
            "at_period_end": "nothing prorated: the new price applies from the next renewal",
            "full_price": "nothing prorated: amount = new, the old plan's unused time is not credited; "
                          "a new period starts when it is paid"}
FULL_PRICE_NOW = "full_price_now"


def store(sub: Subscription, old: Plan, new: Plan, proration: str) -> dict:
    """Price the change now and keep the answer for QUOTE_TTL; the subscription itself is not touched."""
    now = clock.utcnow()
    body = price(sub, old, new, now, proration)
    quote = PlanChangeQuote(id=uuid.uuid4(), subscription_id=sub.id, plan_id=new.id, subscription_version=sub.version,
                            proration=proration, amount_due_cents=body["amount_due_now_cents"], currency=new.currency,
                            body=body, created_at=now, expires_at=now + QUOTE_TTL)
    db.session.add(quote)
    db.session.commit()
    return view(quote)


def view(quote: PlanChangeQuote) -> dict:
    return {**quote.body, "quote_id": quote.id, "subscription_id": quote.subscription_id, "plan_id": quote.plan_id,
            "proration": quote.proration, "expires_at": quote.expires_at,
            "next_renewal_at": datetime.fromisoformat(quote.body["next_renewal_at"])}


def price(sub: Subscription, old: Plan, new: Plan, at: datetime, proration: str) -> dict:
    """The quote's body: what a change at `at` bills now and at the next renewal, in cents."""
    remaining, period = remaining_seconds(at, sub.current_period_start, sub.current_period_end)
    old_cents = prices.price_of(sub, old).amount_cents  # the version this subscriber pays, as unquoted changes
    body = {"currency": new.currency, "old_price_cents": old_cents, "new_price_cents": new.price_cents,
            "seconds_remaining": remaining, "seconds_in_period": period, "quoted_at": at.isoformat()}
    end = sub.current_period_end
    if proration == FULL_PRICE_NOW:
        return _full_price(body, old, new, at, end, remaining, period)
    if proration != "none" and same_cycle(old, new) and new.price_cents > old_cents:
        p = prorate_upgrade(old_cents, new.price_cents, remaining, period)
        lines = [_credit(old, p.credit_cents, at, end, remaining, period),
                 _line("proration_charge", new, p.charge_cents, at, end,
                       f"Remaining time on {new.name} ({remaining} of {period} s)")]
        return _body(body, "upgrade", lines, new.price_cents, end)
    if proration != "none" and not same_cycle(old, new):
        p = prorate_interval_change(old_cents, new.price_cents, remaining, period)
        new_end = plan_period_end(new, at)
        lines = [_credit(old, p.credit_cents, at, end, remaining, period),
                 _line("plan", new, new.price_cents, at, new_end, invoices.plan_line(new, at, new_end).description),
                 *[_balance_line(line) for line in balance.excess_lines(p.amount_cents, new.currency)]]
        return _body(body, "interval_change", lines, new.price_cents, new_end)
    return _body(body, "at_period_end", [], new.price_cents, end)


def _full_price(body: dict, old: Plan, new: Plan, at: datetime, end: datetime, remaining: int, period: int) -> dict:
    """Stripe's billing_cycle_anchor=now with proration_behavior=none: a whole new period charged now.

    The zero credit line names the old plan, so the paid invoice applies only while the
    subscription is still on the plan it was priced for (apply_paid_upgrade).
    """
    new_end = plan_period_end(new, at)
    lines = [_line("proration_credit", old, 0, at, end,
                   f"Unused time on {old.name} not credited ({remaining} of {period} s; full price now)"),
             _line("plan", new, new.price_cents, at, new_end, invoices.plan_line(new, at, new_end).description)]
    return _body(body, "full_price", lines, new.price_cents, new_end)


def _body(body: dict, effect: str, lines: list[dict], renewal_cents: int, renewal_at: datetime) -> dict:
    return {**body, "effect": effect, "rounding": ROUNDING[effect], "lines": lines,
            "amount_due_now_cents": sum(line["amount_cents"] for line in lines),
            "next_renewal_amount_cents": renewal_cents, "next_renewal_at": renewal_at.isoformat()}


def _credit(old: Plan, cents: int, start: datetime, end: datetime, remaining: int, period: int) -> dict:
    return _line("proration_credit", old, cents, start, end, f"Unused time on {old.name} ({remaining} of {period} s)")


def _balance_line(line: InvoiceLine) -> dict:
    return {"kind": line.kind, "plan_id": None, "currency": line.currency, "amount_cents": line.amount_cents,
            "period_start": None, "period_end": None, "description": line.description}


def _line(kind: str, plan: Plan, cents: int, start: datetime, end: datetime, description: str) -> dict:
    return {"kind": kind, "plan_id": str(plan.id), "currency": plan.currency, "amount_cents": cents,
            "period_start": start.isoformat(), "period_end": end.isoformat(), "description": description}


def redeem(sub: Subscription, quote_id: uuid.UUID, plan_id: uuid.UUID, now: datetime) -> PlanChangeQuote:
    """The quote, marked used; 422 if it is not this change's, 409 if used, expired or outdated."""
    quote = db.session.get(PlanChangeQuote, quote_id, with_for_update=True)
    if quote is None or quote.subscription_id != sub.id or quote.plan_id != plan_id:
        raise ApiError(422, "No such quote for this subscription and plan",
                       errors={"json": {"quote_id": ["Not a quote for this subscription and plan_id."]}})
    if quote.used_at is not None:
        raise ApiError(409, "This quote was used already; ask for a new one with POST .../plan/preview")
    if quote.expires_at <= now:
        raise ApiError(409, f"This quote expired at {quote.expires_at.isoformat()}; ask for a new one",
                       errors={"json": {"quote_id": ["Expired."]}})
    if quote.subscription_version != sub.version:
        raise ApiError(409, "The subscription changed since this quote; ask for a new one",
                       errors={"json": {"quote_id": ["Outdated: the subscription changed."]}})
    quote.used_at = now
    return quote


def invoice_lines(quote: PlanChangeQuote) -> list[InvoiceLine]:
    return [InvoiceLine(kind=line["kind"], plan_id=_maybe(uuid.UUID, line["plan_id"]), currency=line["currency"],
                        amount_cents=line["amount_cents"], description=line["description"],
                        period_start=_maybe(datetime.fromisoformat, line["period_start"]),
                        period_end=_maybe(datetime.fromisoformat, line["period_end"])) for line in quote.body["lines"]]


def _maybe(parse, value):
    return None if value is None else parse(value)
