"""The dashboard's figures from small SQL queries of our own, until the reports domain lands.

MRR is each active subscription's price (its own price version, else its plan's) spread over
a month; revenue by month is what invoices collected less the credit notes of that month.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from fractions import Fraction

from sqlalchemy import func, select

from core import clock
from core.extensions import db
from subscription_app.catalog.models import PlanPrice
from subscription_app.models import CreditNote, Invoice, Plan, Subscription

MONTHS_SHOWN = 6
# Periods per month for each interval, so a yearly price counts a twelfth.
_PER_MONTH = {"month": Fraction(1), "year": Fraction(1, 12), "week": Fraction(52, 12), "day": Fraction(365, 12)}


def plan_rows() -> list[dict]:
    """Active subscribers and MRR per plan, biggest MRR first."""
    amount = func.coalesce(PlanPrice.amount_cents, Plan.price_cents)
    stmt = (select(Plan.name, Plan.currency, Plan.billing_interval, Plan.interval_count,
                   func.count(Subscription.id), func.sum(amount))
            .join(Plan, Plan.id == Subscription.plan_id)
            .outerjoin(PlanPrice, (PlanPrice.id == Subscription.price_id) & (PlanPrice.plan_id == Plan.id))
            .where(Subscription.status == "active")
            .group_by(Plan.id))
    rows = [{"plan": name, "currency": currency, "subscribers": count,
             "mrr_cents": round(int(total) * _PER_MONTH[interval] / interval_count)}
            for name, currency, interval, interval_count, count, total in db.session.execute(stmt)]
    return sorted(rows, key=lambda r: -r["mrr_cents"])


def mrr_by_currency(rows: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["currency"]] += row["mrr_cents"]
    return dict(totals)


def _month_starts(now: datetime) -> list[datetime]:
    starts, year, month = [], now.year, now.month
    for _ in range(MONTHS_SHOWN):
        starts.append(datetime(year, month, 1, tzinfo=now.tzinfo))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _by_month(column, amount, currency, since: datetime) -> dict[tuple[str, str], int]:
    month = func.to_char(func.date_trunc("month", column), "YYYY-MM")
    stmt = select(month, currency, func.sum(amount)).where(column >= since).group_by(month, currency)
    return {(m, c): int(total) for m, c, total in db.session.execute(stmt)}


def revenue_by_month() -> dict[str, list[tuple[str, int]]]:
    """Net revenue per currency, one (YYYY-MM, minor units) pair per month of the last six."""
    months = [m.strftime("%Y-%m") for m in _month_starts(clock.utcnow())]
    since = _month_starts(clock.utcnow())[0]
    paid = _by_month(Invoice.paid_at, Invoice.amount_paid_cents, Invoice.currency, since)
    refunded = _by_month(CreditNote.created_at, CreditNote.amount_cents, CreditNote.currency, since)
    currencies = sorted({c for _, c in paid} | {c for _, c in refunded})
    return {c: [(m, paid.get((m, c), 0) - refunded.get((m, c), 0)) for m in months] for c in currencies}


def bars(series: list[tuple[str, int]], height: int = 120, width: int = 60) -> list[dict]:
    """Bar geometry for the server-rendered SVG chart (no script on the page)."""
    top = max([abs(v) for _, v in series] + [1])
    return [{"label": label, "value": value, "x": i * width + 10, "w": width - 20,
             "h": round(abs(value) / top * height), "y": height - round(abs(value) / top * height) + 10}
            for i, (label, value) in enumerate(series)]
