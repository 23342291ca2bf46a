"""Proration of an upgrade, in integer cents. The one place that rounds.

For an upgrade from `old` to `new` (monthly prices in cents) with `remaining` of
`period` seconds left in the current period:

    amount = floor((new - old) * remaining / period)

Rounding is down (floor), in the customer's favour, and done once, on the total. The
invoice shows two lines that add up to exactly that amount:

    credit = -ceil(old * remaining / period)     unused time on the old plan (rounded up: customer's favour)
    charge = amount - credit                      the new plan over the same remaining time

Seconds are whole seconds (the fraction of the current second is dropped, which
again favours the customer by less than a second's worth of price).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Proration:
    amount_cents: int        # what is charged now (>= 0)
    credit_cents: int        # the old plan's unused time, negative
    charge_cents: int        # the new plan's remaining time, positive
    remaining_seconds: int
    period_seconds: int


def remaining_seconds(now: datetime, period_start: datetime, period_end: datetime) -> tuple[int, int]:
    """(remaining, period) in whole seconds, remaining clamped to [0, period]."""
    period = int((period_end - period_start).total_seconds())
    remaining = int((period_end - now).total_seconds())  # int() truncates toward zero: floor for >= 0
    return max(0, min(remaining, period)), period


def prorate_upgrade(old_cents: int, new_cents: int, remaining: int, period: int) -> Proration:
    if period <= 0:
        raise ValueError("period must be positive")
    if not 0 <= remaining <= period:
        raise ValueError("remaining must be within the period")
    if new_cents <= old_cents:
        raise ValueError("an upgrade costs more than the current plan")
    amount = (new_cents - old_cents) * remaining // period
    credit = -(-(old_cents * remaining) // period)  # ceil with integer arithmetic
    return Proration(amount_cents=amount, credit_cents=-credit, charge_cents=amount + credit,
                     remaining_seconds=remaining, period_seconds=period)
