"""Billing periods: where a period of a plan ends."""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta


def _add_months(moment: datetime, months: int) -> datetime:
    """Same day next month, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """The end of a period of `count` `interval`s beginning at `start`.

    Months are calendar months from the period start. A period that began on the 31st
    ends on the 30th/28th of a shorter month, and the next period starts from there (the
    anchor drifts to the shorter day, as most billing systems do without an anchor column).
    """
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    if interval == "month":
        return _add_months(start, count)
    if interval == "year":
        return _add_months(start, 12 * count)
    raise ValueError(f"unknown billing interval {interval!r}")


def plan_period_end(plan, start: datetime) -> datetime:
    return add_interval(start, plan.billing_interval, plan.interval_count)
