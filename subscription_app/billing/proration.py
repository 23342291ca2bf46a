"""Proration of a plan change, in integer cents. The one place that rounds.

For an upgrade from `old` to `new` (monthly prices in cents) with `remaining` of
`period` seconds left in the current period:

    amount = floor((new - old) * remaining / period)

Rounding is down (floor), in the customer's favour, and done once, on the total. The
invoice shows two lines that add up to exactly that amount:

    credit = -ceil(old * remaining / period)     unused time on the old plan (rounded up: customer's favour)
    charge = amount - credit                      the new plan over the same remaining time

Seconds are whole seconds (the fraction of the current second is dropped, which
again favours the customer by less than a second's worth of price).

A change to another billing interval (month -> year, month x1 -> month x3) cannot share
the old period: as Stripe does, a new cycle starts with the change, so the customer is
credited the unused time of the old plan and charged the new plan's full price:

    credit = -ceil(old * remaining / period)     as above
    amount = new + credit                         = floor(new - old * remaining / period)

The amount may be zero or negative (a year's unused time is worth more than a month):
nothing is charged, the change applies at once and the excess goes to the customer
balance (docs/credit-balance.md), which pays the next invoices.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Proration:
    amount_cents: int        # what is charged now (>= 0 for an upgrade; an interval change may be below)
    credit_cents: int        # the old plan's unused time, negative
    charge_cents: int        # the new plan's remaining time (an interval change: its full price)
    remaining_seconds: int
    period_seconds: int


def remaining_seconds(now: datetime, period_start: datetime, period_end: datetime) -> tuple[int, int]:
    """(remaining, period) in whole seconds, remaining clamped to [0, period]."""
    period = int((period_end - period_start).total_seconds())
    remaining = int((period_end - now).total_seconds())  # int() truncates toward zero: floor for >= 0
    return max(0, min(remaining, period)), period


def prorate_upgrade(old_cents: int, new_cents: int, remaining: int, period: int) -> Proration:
    if new_cents <= old_cents:
        raise ValueError("an upgrade costs more than the current plan")
    credit = _unused_credit(old_cents, remaining, period)  # checks remaining and period
    amount = (new_cents - old_cents) * remaining // period
    return Proration(amount_cents=amount, credit_cents=-credit, charge_cents=amount + credit,
                     remaining_seconds=remaining, period_seconds=period)


def prorate_interval_change(old_cents: int, new_cents: int, remaining: int, period: int) -> Proration:
    """The old plan's unused time credited, the new plan's whole period charged."""
    if new_cents < 0:
        raise ValueError("a price is never negative")
    credit = _unused_credit(old_cents, remaining, period)
    return Proration(amount_cents=new_cents - credit, credit_cents=-credit, charge_cents=new_cents,
                     remaining_seconds=remaining, period_seconds=period)


def _unused_credit(old_cents: int, remaining: int, period: int) -> int:
    if period <= 0:
        raise ValueError("period must be positive")
    if not 0 <= remaining <= period:
        raise ValueError("remaining must be within the period")
    return -(-(old_cents * remaining) // period)  # ceil with integer arithmetic: the customer's favour
