"""The revenue summary: SQL GROUP BYs over subscriptions, invoices and credit notes (docs/backoffice.md).

MRR counts active and past-due subscriptions at their own price version, each normalised to a
month and rounded half-up on its own: monthly / count, yearly / (12 x count), weekly x 52 /
(12 x count), daily x 365 / (12 x count). A subscription is new in the month its trial started
or its first invoice (subscription_create, paid) begins, and churned in the month it ended.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from core import clock
from core.extensions import db

# Paying subscriptions counted per (plan, price version) through ix_subscriptions_status_plan, then
# priced: a few rows of plans and prices, whatever the number of subscribers.
PLAN_MRR_SQL = """
SELECT p.id AS plan_id, p.name, COALESCE(pp.currency, p.currency) AS currency, SUM(g.subscribers)::bigint AS subscribers,
       SUM(g.subscribers * ROUND(COALESCE(pp.amount_cents, p.price_cents)::numeric
           * CASE COALESCE(pp.billing_interval, p.billing_interval) WHEN 'week' THEN 52 WHEN 'day' THEN 365 ELSE 1 END
           / (CASE COALESCE(pp.billing_interval, p.billing_interval) WHEN 'month' THEN 1 ELSE 12 END
              * COALESCE(pp.interval_count, p.interval_count))))::bigint AS mrr
FROM (SELECT plan_id, price_id, COUNT(*) AS subscribers FROM subscriptions
      WHERE status IN ('active', 'past_due') GROUP BY plan_id, price_id) g
JOIN plans p ON p.id = g.plan_id LEFT JOIN plan_prices pp ON pp.id = g.price_id
GROUP BY p.id, p.name, 3 ORDER BY mrr DESC, p.name"""
MRR_SQL = f"""
SELECT currency, SUM(mrr)::bigint AS mrr FROM ({PLAN_MRR_SQL}) per_plan GROUP BY currency ORDER BY currency"""
PER_PLAN_SQL = """
SELECT p.id AS plan_id, p.code, COUNT(*) FILTER (WHERE s.status = 'active') AS active,
       COUNT(*) FILTER (WHERE s.status = 'trialing') AS trialing
FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.status IN ('active', 'trialing')
GROUP BY p.id, p.code ORDER BY p.code"""
MOVEMENT_SQL = """
SELECT (SELECT COUNT(*) FROM invoices WHERE reason = 'subscription_create' AND status = 'paid'
          AND period_start >= :month AND period_start < :next)
       + (SELECT COUNT(*) FROM subscriptions WHERE trial_start >= :month AND trial_start < :next) AS new,
       (SELECT COUNT(*) FROM subscriptions WHERE status IN ('canceled', 'expired')
          AND ended_at >= :month AND ended_at < :next) AS churned"""
COLLECTED_SQL = """
SELECT to_char(date_trunc('month', paid_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, currency,
       SUM(amount_paid_cents)::bigint AS cents
FROM invoices WHERE paid_at >= :since AND amount_paid_cents > 0 GROUP BY 1, 2 ORDER BY 1, 2"""
REFUNDED_SQL = """
SELECT to_char(date_trunc('month', created_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, currency,
       SUM(amount_cents)::bigint AS cents
FROM credit_notes WHERE created_at >= :since AND refund_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"""
# Past-due subscriptions through their status index (IN), not a join that reads every subscription.
OUTSTANDING_SQL = """
SELECT i.currency, SUM(i.amount_due_cents - i.amount_paid_cents)::bigint AS open_cents,
       COALESCE(SUM(i.amount_due_cents - i.amount_paid_cents)
                FILTER (WHERE i.subscription_id IN (SELECT id FROM subscriptions WHERE status = 'past_due')), 0)::bigint
         AS past_due_cents
FROM invoices i WHERE i.status = 'open'
GROUP BY i.currency ORDER BY i.currency"""
DUNNING_SQL = """
SELECT COUNT(*) AS subscriptions, MIN(next_payment_attempt_at) AS next_attempt_at
FROM subscriptions WHERE status = 'past_due'"""
QUERIES = {"mrr": MRR_SQL, "plan_mrr": PLAN_MRR_SQL, "per_plan": PER_PLAN_SQL, "movement": MOVEMENT_SQL, "collected": COLLECTED_SQL,
           "refunded": REFUNDED_SQL, "outstanding": OUTSTANDING_SQL, "dunning": DUNNING_SQL}
MONTHS_OF_MONEY = 12


def _rows(sql: str, **params) -> list[dict]:
    return [dict(row) for row in db.session.execute(text(sql), params).mappings()]


def _month_start(moment: datetime, back: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 - back
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def params(now: datetime) -> dict:
    """This month [month, next), and the first month of the money figures (the last 12 months)."""
    return {"month": _month_start(now), "next": _month_start(now, -1), "since": _month_start(now, MONTHS_OF_MONEY - 1)}


def summary(now: datetime | None = None) -> dict:
    """Every figure of GET /v1/admin/reports/summary, in integer minor units per currency."""
    now = now or clock.utcnow()
    bounds = params(now)
    movement = _rows(MOVEMENT_SQL, **bounds)[0]
    return {"as_of": now, "month": bounds["month"].strftime("%Y-%m"),
            "mrr": {r["currency"]: int(r["mrr"]) for r in _rows(MRR_SQL)},
            "subscribers_per_plan": _rows(PER_PLAN_SQL),
            "new_this_month": movement["new"], "churned_this_month": movement["churned"],
            "collected": _rows(COLLECTED_SQL, **bounds), "refunded": _rows(REFUNDED_SQL, **bounds),
            "outstanding": _rows(OUTSTANDING_SQL), "dunning": _rows(DUNNING_SQL)[0]}


def mrr_per_plan() -> list[dict]:
    """Paying (active and past-due) subscribers and MRR per plan and currency, as the summary's MRR counts them."""
    return _rows(PLAN_MRR_SQL)


def summary_rows(data: dict) -> list[tuple]:
    """The summary flattened for CSV: (section, key, currency, value) with money in minor units."""
    rows = [("mrr", "", currency, cents) for currency, cents in data["mrr"].items()]
    for plan in data["subscribers_per_plan"]:
        rows += [("active", plan["code"], "", plan["active"]), ("trialing", plan["code"], "", plan["trialing"])]
    rows += [("new_this_month", data["month"], "", data["new_this_month"]),
             ("churned_this_month", data["month"], "", data["churned_this_month"])]
    rows += [("collected", r["month"], r["currency"], r["cents"]) for r in data["collected"]]
    rows += [("refunded", r["month"], r["currency"], r["cents"]) for r in data["refunded"]]
    for r in data["outstanding"]:
        rows += [("open", "", r["currency"], r["open_cents"]), ("past_due", "", r["currency"], r["past_due_cents"])]
    rows.append(("dunning_queue", "", "", data["dunning"]["subscriptions"]))
    return rows
