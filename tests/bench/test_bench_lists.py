"""bench/lists.py measures what it says: cursor and offset pages, first and last, of a filled list."""
from sqlalchemy import func, select

from bench import lists
from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.integrations.models import IntegrationEvent


def test_lists_bench_reaches_the_last_page(app, payment_app, seeded):
    with app.app_context():
        seed_audit = db.session.scalar(select(func.count()).select_from(AuditEvent))
    rows = lists.run_lists(app, payment_app, [45], audit_rows=30, requests=1, admin_sizes=[30, 50])
    assert [r["list"] for r in rows] == ["GET /v1/payments/transactions", "GET /v1/invoices", "GET /v1/admin/audit"] \
        + ["GET /v1/admin/customers", "GET /v1/admin/subscriptions", "GET /v1/admin/events"] * 2
    assert all(r[k] > 0 for r in rows for k in ("cursor_first_ms", "cursor_last_ms", "offset_first_ms",
                                                 "offset_last_ms") if r["list"] != "GET /v1/admin/events")
    assert all(r["offset_first_ms"] is None and r["cursor_last_ms"] > 0 for r in rows if r["list"] == "GET /v1/admin/events")
    assert rows[0]["rows"] == 45 and rows[2]["rows"] == 30 + seed_audit
    # Every customer of the fill has one subscription and one event: 50 of each at the second size.
    assert [r["rows"] for r in rows[-2:]] == [50, 50] and rows[-3]["rows"] >= 50
    assert [g["to_rows"] for g in lists.growth(rows) if g["list"] == "GET /v1/admin/events"] == [50]


def test_last_event_cursor_opens_the_last_events_page(app, client, make_user, seeded):
    admin_headers = make_user(role="admin")[1]
    lists._fill_customers(app, 0, 45)
    with app.app_context():
        events = db.session.scalars(select(IntegrationEvent.id).order_by(IntegrationEvent.created_at,
                                                                          IntegrationEvent.id)).all()
        cursor = lists._last_event_cursor(len(events))
    assert len(events) >= 45
    page = client.get(f"/v1/admin/events?limit=20&starting_after={cursor}", headers=admin_headers).json
    assert [e["id"] for e in page["items"]] == events[(len(events) - 1) // 20 * 20:]
    assert page["has_more"] is False


def test_last_cursor_opens_the_last_page(app, payment_app, payment_client, make_user):
    from payment_app.models import Transaction

    user, headers = make_user()
    lists._fill(app, user.id, 45)
    cursor = lists._last_cursor(payment_app, "SELECT * FROM transactions WHERE user_id = :u "
                                "ORDER BY created_at DESC, id DESC", [Transaction.created_at, Transaction.id],
                                Transaction, {"u": user.id}, 45)
    page = payment_client.get(f"/v1/payments/transactions?limit=20&starting_after={cursor}", headers=headers).json
    assert len(page["items"]) == 5 and page["has_more"] is False
