"""GET /v1/admin/reports/summary: exact cents per currency from SQL over the ledger, its CSV, its query plans."""
import csv
import io
import uuid
from collections import Counter
from datetime import timezone

import pytest
from sqlalchemy import select, text

from core import clock
from core.extensions import db
from subscription_app.backoffice import reports
from subscription_app.models import CreditNote, Invoice, Subscription
from subscription_app.seed import BASIC_MONTHLY_ID, PRO_MONTHLY_ID, PRO_TRIAL_ID
from tests.support.billing_support import GOOD_CARD, add_plan, advance_to, run_cycle, send_event, subscribe_and_pay

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")


def summary(client, h) -> dict:
    response = client.get("/v1/admin/reports/summary", headers=h)
    assert response.status_code == 200, response.json
    return response.json


def refund(client, invoice: dict, user_id: int, cents: int) -> None:
    """The payment service's report of a refund of the payment that paid `invoice`."""
    data = {"refund_id": f"re_{uuid.uuid4().hex[:12]}", "transaction_id": invoice["transaction_id"],
            "invoice_id": invoice["id"], "user_id": user_id, "amount_cents": cents, "currency": invoice["currency"],
            "refunded_total_cents": cents, "keep_subscription": True, "reason": "goodwill"}
    assert send_event(client, "refund.succeeded", data).json["processed"] is True


def money_by_month(rows) -> list[dict]:
    """(moment, currency, cents) summed per UTC month and currency, ordered as the report orders them."""
    sums = Counter()
    for moment, currency, cents in rows:
        sums[(moment.astimezone(timezone.utc).strftime("%Y-%m"), currency)] += cents
    return [{"month": m, "currency": c, "cents": sums[(m, c)]} for m, c in sorted(sums)]


@pytest.fixture
def ledger(client, admin, make_user):
    """Subscribers at several intervals, one trial, one unpaid, a EUR plan whose price later rose."""
    _, h = admin
    plans = {"pro": PRO_MONTHLY_ID, "yearly": add_plan(client.application, 12006, "year"),
             "weekly": add_plan(client.application, 1000, "week"),
             "quarterly": add_plan(client.application, 1000, "month", 3)}
    team = client.post("/v1/admin/plans", json={"name": "Team EU", "price_cents": 4900, "currency": "EUR",
                                                "billing_interval": "month"}, headers=h).json
    subs = {}
    for name, plan_id in [*plans.items(), ("yearly2", plans["yearly"]), ("team", team["id"])]:
        user, uh = make_user(f"{name}@example.com")
        subs[name] = (user, subscribe_and_pay(client, uh, user.id, plan_id=plan_id))
    assert client.post(f"/v1/admin/plans/{team['id']}/prices", json={"price_cents": 5900}, headers=h).status_code == 201
    _, th = make_user("trial@example.com")
    assert client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "card": GOOD_CARD},
                       headers=th).status_code == 201
    _, oh = make_user("unpaid@example.com")
    assert client.post("/v1/subscriptions", json={"plan_id": str(BASIC_MONTHLY_ID)}, headers=oh).status_code == 201
    return subs


def test_mrr_subscribers_movement_and_money_in_exact_cents(client, admin, ledger):
    user, pro = ledger["pro"]
    refund(client, pro["latest_invoice"], user.id, 900)
    body = summary(client, admin[1])
    # 2900 + 2 x round_half_up(12006 / 12 = 1000.5) + round(1000 x 52 / 12 = 4333.3) + round(1000 / 3): USD;
    # the Team subscriber keeps its own price version (4900), not the new 5900.
    assert body["mrr"] == {"EUR": 4900, "USD": 2900 + 1001 + 1001 + 4333 + 333}
    per_plan = {p["code"]: (p["active"], p["trialing"]) for p in body["subscribers_per_plan"]}
    assert per_plan.pop("pro_monthly") == (1, 0) and per_plan.pop("pro_trial") == (0, 1)
    assert sorted(per_plan.values()) == [(1, 0), (1, 0), (1, 0), (2, 0)]
    # The clock ticks: at 23:59:59 on Dec 31 the ledger itself spans two months, so months come from the rows.
    paid = db.session.scalars(select(Invoice).where(Invoice.paid_at.is_not(None))).all()
    started = [i.period_start for i in paid if i.reason == "subscription_create"]
    started += db.session.scalars(select(Subscription.trial_start).where(Subscription.trial_start.is_not(None))).all()
    assert body["month"] == clock.utcnow().strftime("%Y-%m")
    assert body["new_this_month"] == sum(m.astimezone(timezone.utc).strftime("%Y-%m") == body["month"] for m in started)
    assert body["churned_this_month"] == 0
    assert body["collected"] == money_by_month((i.paid_at, i.currency, i.amount_paid_cents) for i in paid)
    totals = Counter()
    for row in body["collected"]:
        totals[row["currency"]] += row["cents"]
    assert totals == {"EUR": 4900, "USD": 2900 + 12006 * 2 + 1000 + 1000}
    note = db.session.scalar(select(CreditNote))
    assert body["refunded"] == money_by_month([(note.created_at, "USD", 900)])
    assert body["outstanding"] == [{"currency": "USD", "open_cents": 900, "past_due_cents": 0}]
    assert body["dunning"] == {"subscriptions": 0, "next_attempt_at": None}


def test_past_due_counts_in_mrr_outstanding_and_dunning_canceled_does_not(client, admin, make_user):
    _, h = admin
    late_user, lh = make_user()
    late = subscribe_and_pay(client, lh, late_user.id, card=False)
    gone_user, gh = make_user()
    gone = subscribe_and_pay(client, gh, gone_user.id, plan_id=BASIC_MONTHLY_ID)
    assert client.delete(f"/v1/subscriptions/{gone['id']}", headers=gh).status_code == 200
    ended = summary(client, h)
    assert (ended["new_this_month"], ended["churned_this_month"], ended["mrr"]) == (2, 1, {"USD": 2900})
    advance_to(client.application, late["current_period_end"])
    run_cycle()  # no saved card: the renewal is past due
    body = summary(client, h)
    assert body["mrr"] == {"USD": 2900}
    assert body["outstanding"] == [{"currency": "USD", "open_cents": 2900, "past_due_cents": 2900}]
    assert body["dunning"]["subscriptions"] == 1 and body["dunning"]["next_attempt_at"]
    assert (body["new_this_month"], body["churned_this_month"]) == (0, 0)  # both happened last month


def test_summary_csv_has_a_header_and_the_same_figures(client, admin, ledger):
    response = client.get("/v1/admin/reports/summary.csv", headers=admin[1])
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["section", "key", "currency", "value"]
    assert ["mrr", "", "USD", str(2900 + 1001 + 1001 + 4333 + 333)] in rows and ["mrr", "", "EUR", "4900"] in rows
    assert ["open", "", "USD", "900"] in rows


def test_non_admins_get_403(client, seeded, make_user):
    _, h = make_user()
    for url in ("/v1/admin/reports/summary", "/v1/admin/reports/summary.csv"):
        response = client.get(url, headers=h)
        assert response.status_code == 403 and response.json["message"] == "Admin role required"


@pytest.mark.parametrize("query", sorted(reports.QUERIES))
def test_report_queries_are_index_backed(client, ledger, query):
    """With sequential scans priced out (a few rows here, 100k in production), no table is read whole."""
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    sql = text("EXPLAIN " + reports.QUERIES[query])
    plan = "\n".join(db.session.execute(sql, reports.params(clock.utcnow())).scalars())
    db.session.rollback()
    assert "Seq Scan" not in plan and "Index" in plan, plan
    print(plan)
