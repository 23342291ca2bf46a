"""Read the private stack's database directly: what every test checks after the dust settles."""
from __future__ import annotations

import psycopg2


def query(stack, sql: str, params=()):
    conn = psycopg2.connect(host="127.0.0.1", port=stack.pg.port, user="postgres", dbname="billing")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def money_report(stack, emails: list[str]) -> dict:
    """Per user: subscription status, invoice paid amount, approved gateway charges for the invoice."""
    rows = query(stack, """
        SELECT u.email, s.status, i.id::text, i.status, i.amount_paid_cents
        FROM users u JOIN subscriptions s ON s.user_id = u.id
        JOIN invoices i ON i.subscription_id = s.id AND i.reason = 'subscription_create'
        WHERE u.email = ANY(%s)""", (emails,))
    charges = dict(query(stack, """
        SELECT t.invoice_id::text, count(*) FROM mock_gateway_requests g
        JOIN transactions t ON t.id::text = g.reference
        WHERE g.operation = 'charge' AND g.approved GROUP BY t.invoice_id"""))
    report = {"tried": len(emails), "active": 0, "lost": 0, "doubled": 0, "paid_cents": 0}
    for email, sub_status, invoice_id, invoice_status, paid in rows:
        report["active"] += sub_status == "active"
        report["paid_cents"] += paid
        report["doubled"] += charges.get(invoice_id, 0) > 1 or paid > 2900
    report["lost"] = report["tried"] - report["active"]
    return report


def undelivered_events(stack) -> int:
    [(n,)] = query(stack, """SELECT (SELECT count(*) FROM sub_outbox_events WHERE delivered_at IS NULL)
                                  + (SELECT count(*) FROM pay_outbox_events WHERE delivered_at IS NULL)""")
    return n
