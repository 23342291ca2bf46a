"""Binding plan-change quotes (docs/lifecycle.md#binding-proration-quotes).

A preview prices the change with the function PUT .../plan uses (billing/change_pricing.py:
proration, discount, balance) and stores the answer with the subscription's version. PUT
.../plan with the quote_id bills exactly the stored lines, so the amount cannot drift between
preview and payment; any change to the subscription since (its version moved), a used quote
or an expired one is a 409.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app.billing.change_pricing import price_change
from subscription_app.discounts import balance
from subscription_app.models import InvoiceLine, Plan, PlanChangeQuote, Subscription

QUOTE_TTL = timedelta(minutes=15)  # long enough to read and confirm, short enough that the price stays fair
ROUNDING = {"upgrade": "amount = floor((new - old) * remaining / period); credit = -ceil(old * remaining / period)",
            "interval_change": "credit = -ceil(old * remaining / period); amount = max(0, new + credit), "
                               "the rest to the customer balance",
            "at_period_end": "nothing prorated: the new price applies from the next renewal",
            "full_price": "nothing prorated: amount = new, the old plan's unused time is not credited; "
                          "a new period starts when it is paid"}
DISCOUNT_ROUNDING = ("discount: percent off each line (credits too), rounded half up per line; "
                     "amount off once, at most the net")


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
    priced = price_change(sub, old, new, at, proration)
    return {"currency": new.currency, "old_price_cents": priced.old_cents, "new_price_cents": new.price_cents,
            "seconds_remaining": priced.remaining, "seconds_in_period": priced.period, "quoted_at": at.isoformat(),
            "effect": priced.effect, "rounding": _rounding(priced),
            "lines": [_as_dict(line) for line in priced.lines], "amount_due_now_cents": priced.due_now_cents,
            "next_renewal_amount_cents": priced.renewal_cents, "next_renewal_at": priced.renewal_at.isoformat(),
            "applied_balance_cents": min(balance.credit_held(sub.user_id, new.currency),
                                         max(0, priced.due_now_cents))}


def _rounding(priced) -> str:
    discounted = any(line.kind == "discount" for line in priced.lines)
    return ROUNDING[priced.effect] + (f"; {DISCOUNT_ROUNDING}" if discounted else "")


def _as_dict(line: InvoiceLine) -> dict:
    return {"kind": line.kind, "plan_id": _maybe(str, line.plan_id), "currency": line.currency,
            "amount_cents": line.amount_cents, "period_start": _maybe(datetime.isoformat, line.period_start),
            "period_end": _maybe(datetime.isoformat, line.period_end), "description": line.description}


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
