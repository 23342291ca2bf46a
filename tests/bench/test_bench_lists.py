"""bench/lists.py measures what it says: cursor and offset pages, first and last, of a filled list."""
from bench import lists


def test_lists_bench_reaches_the_last_page(app, payment_app):
    rows = lists.run_lists(app, payment_app, [45], audit_rows=30, requests=1)
    assert [r["list"] for r in rows] == ["GET /v1/payments/transactions", "GET /v1/invoices", "GET /v1/admin/audit"]
    assert all(r[k] > 0 for r in rows for k in ("cursor_first_ms", "cursor_last_ms", "offset_first_ms",
                                                 "offset_last_ms"))
    assert rows[0]["rows"] == 45 and rows[2]["rows"] == 30


def test_last_cursor_opens_the_last_page(app, payment_app, payment_client, make_user):
    from payment_app.models import Transaction

    user, headers = make_user()
    lists._fill(app, user.id, 45)
    cursor = lists._last_cursor(payment_app, "SELECT * FROM transactions WHERE user_id = :u "
                                "ORDER BY created_at DESC, id DESC", [Transaction.created_at, Transaction.id],
                                Transaction, {"u": user.id}, 45)
    page = payment_client.get(f"/v1/payments/transactions?limit=20&starting_after={cursor}", headers=headers).json
    assert len(page["items"]) == 5 and page["has_more"] is False
