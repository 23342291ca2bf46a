"""Cursor pages (core/pagination.py): every row once, in order, with no COUNT; bad cursors are a 422."""
import uuid

import pytest
from sqlalchemy import text

from core import clock
from core.extensions import db
from core.pagination import decode_cursor, encode_cursor
from payment_app.models import Transaction

ROWS = 250


def _walk(client, url, headers, limit=40):
    """Follow next_cursor from the first page to the last; returns the ids in the order served."""
    ids, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in url else "?"
        query = f"{sep}limit={limit}" + (f"&starting_after={cursor}" if cursor else "")
        page = client.get(url + query, headers=headers)
        assert page.status_code == 200, page.json
        assert "meta" not in page.json
        ids += [item["id"] for item in page.json["items"]]
        pages += 1
        if not page.json["has_more"]:
            assert page.json["next_cursor"] is None
            return ids, pages
        cursor = page.json["next_cursor"]


def _seed_transactions(payment_app, user_id: int, rows: int) -> list:
    """Rows in groups of 5 sharing one created_at, so the id must break ties."""
    now = clock.utcnow()
    with payment_app.app_context():
        db.session.execute(text(
            "INSERT INTO transactions (id, user_id, kind, status, amount_cents, currency, refunded_cents, "
            "created_at, updated_at) SELECT gen_random_uuid(), :u, 'charge', 'succeeded', 100 + n, 'USD', 0, "
            ":now - (n / 5) * interval '1 second', :now FROM generate_series(1, :rows) n"),
            {"u": user_id, "now": now, "rows": rows})
        db.session.commit()
        return [str(i) for i in db.session.scalars(text(
            "SELECT id FROM transactions WHERE user_id = :u ORDER BY created_at DESC, id DESC"), {"u": user_id})]


def test_transactions_cursor_walk_serves_each_row_once_in_order(payment_app, payment_client, make_user):
    user, headers = make_user()
    other, _ = make_user()
    expected = _seed_transactions(payment_app, user.id, ROWS)
    _seed_transactions(payment_app, other.id, 30)
    ids, pages = _walk(payment_client, "/v1/payments/transactions", headers)
    assert ids == expected and pages == 7


def test_offset_pages_stay_for_old_clients(payment_app, payment_client, make_user):
    user, headers = make_user()
    expected = _seed_transactions(payment_app, user.id, 25)
    page = payment_client.get("/v1/payments/transactions?page=2&per_page=10", headers=headers).json
    assert page["meta"] == {"page": 2, "per_page": 10, "total": 25, "pages": 3}
    assert [t["id"] for t in page["items"]] == expected[10:20]
    assert "has_more" not in page


def _seed_invoices(app, user_id: int, rows: int) -> list:
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO invoices (id, user_id, status, reason, currency, amount_due_cents) "
            "SELECT gen_random_uuid(), :u, 'open', 'manual', 'USD', n FROM generate_series(1, :rows) n"),
            {"u": user_id, "rows": rows})
        db.session.commit()
        return [str(i) for i in db.session.scalars(text(
            "SELECT id FROM invoices WHERE user_id = :u ORDER BY number DESC"), {"u": user_id})]


def test_invoices_cursor_walk(app, client, make_user):
    user, headers = make_user()
    expected = _seed_invoices(app, user.id, ROWS)
    ids, _ = _walk(client, "/v1/invoices", headers, limit=100)
    assert ids == expected


def _seed_subscription_with_events(app, user_id: int, rows: int) -> tuple[str, list]:
    now = clock.utcnow()
    with app.app_context():
        plan = db.session.scalar(text("SELECT id FROM plans LIMIT 1"))
        sub = db.session.scalar(text(
            "INSERT INTO subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, "
            "billing_cycle_anchor) VALUES (gen_random_uuid(), :u, :p, 'canceled', :now, :now, :now) RETURNING id"),
            {"u": user_id, "p": plan, "now": now})
        db.session.execute(text(
            "INSERT INTO subscription_events (subscription_id, type, details, at) "
            "SELECT :s, 'refund', '{}'::jsonb, :now - ((n % 50) * interval '1 minute') FROM generate_series(1, :rows) n"),
            {"s": sub, "now": now, "rows": rows})
        db.session.commit()
        return str(sub), list(db.session.scalars(text(
            "SELECT id FROM subscription_events WHERE subscription_id = :s ORDER BY at, id"), {"s": sub}))


def test_subscription_history_cursor_walk_is_oldest_first(app, client, make_user, seeded):
    user, headers = make_user()
    sub_id, expected = _seed_subscription_with_events(app, user.id, ROWS)
    ids, _ = _walk(client, f"/v1/subscriptions/{sub_id}/history", headers)
    assert ids == expected
    listed = client.get("/v1/subscriptions?limit=5", headers=headers).json
    assert [s["id"] for s in listed["items"]] == [sub_id] and listed["has_more"] is False


def test_admin_audit_cursor_walk(app, client, make_user):
    admin, headers = make_user(role="admin")
    now = clock.utcnow()
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO audit_events (source, action, object_type, object_id, at) "
            "SELECT 'cli', 'plan.updated', 'plan', n::text, :now - ((n % 7) * interval '1 hour') "
            "FROM generate_series(1, :rows) n"), {"now": now, "rows": ROWS})
        db.session.commit()
        expected = list(db.session.scalars(text("SELECT id FROM audit_events ORDER BY at DESC, id DESC")))
    ids, _ = _walk(client, "/v1/admin/audit", headers, limit=100)
    assert ids == expected


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", encode_cursor.__name__,
                                    "WyJub3QtYS1kYXRlIiwiMSJd", "WzFd", "WyIyMDI2LTEyLTAxVDA5OjAwOjAwIiwiMSJd"])
def test_a_bad_cursor_is_a_422_naming_starting_after(payment_client, make_user, cursor):
    _, headers = make_user()
    answer = payment_client.get(f"/v1/payments/transactions?starting_after={cursor}", headers=headers)
    assert answer.status_code == 422
    assert "starting_after" in answer.json["errors"]["query"]


def test_cursor_and_offset_arguments_do_not_mix(payment_client, make_user):
    _, headers = make_user()
    answer = payment_client.get("/v1/payments/transactions?limit=5&page=2", headers=headers)
    assert answer.status_code == 422 and "limit" in answer.json["errors"]["query"]
    assert payment_client.get("/v1/payments/transactions?limit=101", headers=headers).status_code == 422


def test_cursor_round_trips_the_order_keys(payment_app):
    row = Transaction(created_at=clock.utcnow(), id=uuid.uuid4())
    cols = [Transaction.created_at, Transaction.id]
    assert decode_cursor(encode_cursor(row, cols), cols) == [row.created_at, row.id]


def test_transactions_keyset_query_uses_the_index(payment_app, make_user):
    user, _ = make_user()
    _seed_transactions(payment_app, user.id, 2000)
    with payment_app.app_context():
        db.session.execute(text("ANALYZE transactions"))
        plan = "\n".join(db.session.scalars(text(
            "EXPLAIN SELECT * FROM transactions WHERE user_id = :u AND (created_at, id) < (:c, :i) "
            "ORDER BY created_at DESC, id DESC LIMIT 21"),
            {"u": user.id, "c": clock.utcnow(), "i": uuid.uuid4()}))
    assert "ix_transactions_user_created_id" in plan and "Sort" not in plan, plan
