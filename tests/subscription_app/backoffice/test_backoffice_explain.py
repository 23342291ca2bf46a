"""The revenue summary and the admin customers list at 100,000 customers and subscriptions: index-backed.

generate_series fills users, subscriptions and invoices in SQL (a few seconds), ANALYZE gives the
planner real statistics, and EXPLAIN (FORMAT JSON) of every summary query and of the customers
list pages, as the app sends them, may not read a big table with a Seq Scan. The plans are
printed (pytest -s) and docs/backoffice.md shows them.
"""
import json

import pytest
from sqlalchemy import event, text

from core import clock
from core.extensions import db
from subscription_app.backoffice import customers, reports
from subscription_app.seed import BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID

pytestmark = [pytest.mark.slow, pytest.mark.subscription]
N = 100_000
BIG_TABLES = {"users", "subscriptions", "invoices", "credit_notes"}
# A customer every 15 minutes back from now (almost three years); each with one subscription: 60 %
# active, 10 % trialing, 5 % past due, 25 % canceled; one invoice each, paid when created (open for
# the past due); a refund credit note on every tenth paid invoice.
FILL = [
    """INSERT INTO users (email, password_hash, created_at)
       SELECT 'bulk' || g || '@load.test', 'x', :now - g * interval '15 minutes' FROM generate_series(1, :n) g""",
    """INSERT INTO subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end,
                                  billing_cycle_anchor, trial_start, trial_end, ended_at, created_at)
       SELECT gen_random_uuid(), u.id, (ARRAY[:basic, :pro, :enterprise]::uuid[])[1 + u.id % 3],
              CASE WHEN u.id % 20 < 12 THEN 'active' WHEN u.id % 20 < 14 THEN 'trialing'
                   WHEN u.id % 20 = 14 THEN 'past_due' ELSE 'canceled' END,
              u.created_at, u.created_at + interval '1 month', u.created_at,
              CASE WHEN u.id % 20 IN (12, 13) THEN u.created_at END,
              CASE WHEN u.id % 20 IN (12, 13) THEN u.created_at + interval '14 days' END,
              CASE WHEN u.id % 20 >= 15 THEN u.created_at + interval '20 days' END, u.created_at
       FROM users u WHERE u.email LIKE 'bulk%'""",
    """INSERT INTO invoices (id, user_id, subscription_id, status, reason, currency, amount_due_cents,
                             amount_paid_cents, period_start, period_end, paid_at, created_at)
       SELECT gen_random_uuid(), s.user_id, s.id, CASE WHEN s.status = 'past_due' THEN 'open' ELSE 'paid' END,
              'subscription_create', 'USD', 2900, CASE WHEN s.status = 'past_due' THEN 0 ELSE 2900 END,
              s.current_period_start, s.current_period_end,
              CASE WHEN s.status <> 'past_due' THEN s.created_at END, s.created_at
       FROM subscriptions s WHERE s.status <> 'trialing'""",
    """INSERT INTO credit_notes (id, invoice_id, user_id, subscription_id, refund_id, amount_cents, currency,
                                 created_at)
       SELECT gen_random_uuid(), i.id, i.user_id, i.subscription_id, 're_' || i.number, 1450, 'USD',
              i.paid_at + interval '1 day'
       FROM invoices i WHERE i.status = 'paid' AND i.number % 10 = 0""",
]


@pytest.fixture
def hundred_thousand(app, seeded):
    params = {"n": N, "now": clock.utcnow(), "basic": str(BASIC_MONTHLY_ID), "pro": str(PRO_MONTHLY_ID),
              "enterprise": str(ENTERPRISE_MONTHLY_ID)}
    for sql in FILL:
        db.session.execute(text(sql), params)
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE users, subscriptions, invoices, credit_notes"))
    return N


def scans(node: dict) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every scan in a JSON plan, depth first."""
    found = [(node["Node Type"], node.get("Relation Name"), node.get("Index Name"))] if "Scan" in node["Node Type"] \
        else []
    for child in node.get("Plans", []):
        found += scans(child)
    return found


def explain(sql: str, params) -> tuple[list, str]:
    plan = db.session.execute(text("EXPLAIN (FORMAT JSON) " + sql), params).scalar()
    tree = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
    readable = "\n".join(db.session.execute(text("EXPLAIN " + sql), params).scalars())
    return scans(tree), readable


def assert_index_backed(name: str, found: list, readable: str) -> None:
    print(f"\n-- {name}\n{readable}")
    whole = [(kind, rel) for kind, rel, _ in found if kind == "Seq Scan" and rel in BIG_TABLES]
    assert not whole, f"{name} reads a big table whole: {whole}\n{readable}"
    assert any(index for _, _, index in found), f"{name} uses no index\n{readable}"


def sent_sql(call) -> tuple[str, dict, dict]:
    """The last SELECT on users the call sent, its parameters (what the app really runs), and its result."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM users" in statement:
            seen.append((statement, parameters))
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    statement, parameters = seen[-1]
    return statement, parameters, result


def explain_sent(sql: str, params) -> tuple[list, str]:
    driver_sql = db.session.connection().exec_driver_sql
    plan = driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).scalar()
    tree = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
    return scans(tree), "\n".join(r[0] for r in driver_sql("EXPLAIN " + sql, params))


CUSTOMER_FILTERS = {"all": {}, "email_prefix": {"email_prefix": "bulk99"}, "status": {"status": "past_due"}}


def test_summary_and_customers_list_use_their_indexes_at_100k(hundred_thousand):
    for query in sorted(reports.QUERIES):
        assert_index_backed(query, *explain(reports.QUERIES[query], reports.params(clock.utcnow())))
    for name, filters in CUSTOMER_FILTERS.items():
        first_sql, first_params, first = sent_sql(lambda: customers.search({"limit": 20}, **filters))
        assert len(first["items"]) == 20 and first["has_more"] is True
        later_sql, later_params, later = sent_sql(
            lambda: customers.search({"limit": 20, "starting_after": first["next_cursor"]}, **filters))
        assert len(later["items"]) == 20 and not {u.id for u in later["items"]} & {u.id for u in first["items"]}
        for page, sql, params in (("first", first_sql, first_params), ("next", later_sql, later_params)):
            found, readable = explain_sent(sql, params)
            # The index gives the order; the planner may also sort a prefix's matches, found through the prefix
            # index (its choice depends on ANALYZE's sample), which bounds what is sorted.
            assert "Sort" not in readable or (name == "email_prefix" and "ix_users_email_prefix" in readable), readable
            assert_index_backed(f"customers {name}, {page} page", found, readable)
