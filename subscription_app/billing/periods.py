"""Billing periods: where a period of a plan ends.

Period ends are counted from the subscription's billing cycle anchor (anchor + k
intervals, each clamped to its month), never chained from the previous end: chaining
would move a Jan 31 subscription to the 28th for good (Feb 28, Mar 28, ...).
"""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

_STEPS = {"day": timedelta(days=1), "week": timedelta(weeks=1)}
_MONTHS = {"month": 1, "year": 12}
# A plan's period is 1 to three years' worth of its interval (Stripe's limit: 3 years, 36 months,
# 156 weeks). The plans table has the same rule as a CHECK constraint (migration 0010).
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}


def _add_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def interval_problem(interval: str, count: int) -> str | None:
    """Why `count` `interval`s is not a plan's period, or None."""
    if interval not in MAX_INTERVAL_COUNT:
        return f"unknown billing interval {interval!r}"
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_INTERVAL_COUNT[interval]:
        return f"interval_count {count!r} is outside 1..{MAX_INTERVAL_COUNT[interval]} for {interval!r}"
    return None


def next_period_end(anchor: datetime, current_end: datetime, interval: str, count: int = 1) -> datetime:
    """The first anchor + k × (`count` `interval`s), k >= 1, strictly after `current_end`.

    Jan 31 monthly: Feb 28 (29), Mar 31, Apr 30. Days and months are UTC ones, whatever
    offset the database session gave the anchor, so the day never depends on a time zone.
    """
    problem = interval_problem(interval, count)
    if problem:  # 0 would divide by zero below and a negative count would never get past current_end
        raise ValueError(problem)
    anchor, current_end = anchor.astimezone(timezone.utc), current_end.astimezone(timezone.utc)
    if interval in _STEPS:
        step = _STEPS[interval] * count
        return anchor + max(1, (current_end - anchor) // step + 1) * step
    months = _MONTHS[interval] * count
    # k from the whole calendar months between the two is the answer or one short of it.
    k = max(1, ((current_end.year - anchor.year) * 12 + current_end.month - anchor.month) // months)
    while (end := _add_months(anchor, k * months)) <= current_end:
        k += 1
    return end


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """The end of one period of `count` `interval`s beginning at `start`.

    Right for a period whose start is the anchor (a new subscription, a new cycle); a
    renewal must use next_period_end, or the day lost to a short month is never regained.
    """
    return next_period_end(start, start, interval, count)


def plan_period_end(plan, start: datetime) -> datetime:
    return add_interval(start, plan.billing_interval, plan.interval_count)


def same_cycle(old, new) -> bool:
    """Plans whose periods have the same length: a change between them keeps the anchor."""
    return (old.billing_interval, old.interval_count) == (new.billing_interval, new.interval_count)
