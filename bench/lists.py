"""Lists and table growth, in-process (Flask's test client): does a page cost more as data grows?

    python -m bench.lists [--sizes 1,100,10000] [--audit-rows 100000] [--admin-sizes 1000,100000] [--requests 30]
    python -m bench.lists --retention [--outbox-rows 1000000]

Lists: for one user with N transactions and N invoices (and the admin audit log at --audit-rows; the
admin customers, subscriptions and events lists at each of --admin-sizes customers, one subscription
and one event each), the median latency of page 1 and of the last page, with cursor pages (`limit`)
and with offset pages (`page`/`per_page`, which COUNT and OFFSET; the events list has cursor pages only). --retention: the periodic jobs' cost with that many
delivered outbox rows, and the retention job draining them. Uses the bench database and Redis db
(BENCH_DATABASE_URL, BENCH_REDIS_URL; emptied). See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time

from flask_jwt_extended import create_access_token
from sqlalchemy import select, text
from werkzeug.serving import make_server

from bench import fixtures, retention_cost
from core import clock
from core.extensions import db
from core.pagination import encode_cursor
from core.settings import load_settings
from jobs.context import register_app
from payment_app import create_app as create_payment
from payment_app.models import Transaction
from subscription_app import create_app as create_subscription
from subscription_app.catalog.models import AuditEvent
from subscription_app.integrations.models import IntegrationEvent
from subscription_app.models import Invoice, Subscription, User
from subscription_app.seed import PRO_MONTHLY_ID

PAGE = 20


def _median_ms(client, path: str, headers: dict, requests: int) -> float:
    for _ in range(3):
        assert client.get(path, headers=headers).status_code == 200, path
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.get_data()[:200])
    return round(statistics.median(samples), 2)


def _fill(app, user_id: int, rows: int) -> None:
    with app.app_context():
        params = {"u": user_id, "rows": rows, "now": clock.utcnow()}
        db.session.execute(text(
            "INSERT INTO transactions (id, user_id, kind, status, amount_cents, currency, refunded_cents, "
            "created_at, updated_at) SELECT gen_random_uuid(), :u, 'charge', 'succeeded', 100, 'USD', 0, "
            ":now - n * interval '1 second', :now FROM generate_series(1, :rows) n"), params)
        db.session.execute(text(
            "INSERT INTO invoices (id, user_id, status, reason, currency, amount_due_cents) "
            "SELECT gen_random_uuid(), :u, 'paid', 'manual', 'USD', 100 FROM generate_series(1, :rows) n"), params)
        db.session.commit()


def _last_cursor(app, stmt_sql: str, cols, model, params: dict, rows: int) -> str | None:
    """The cursor whose page is the last one: the row just before the last page's first row."""
    offset = (rows - 1) // PAGE * PAGE - 1
    if offset < 0:
        return None
    with app.app_context():
        row = db.session.scalars(select(model).from_statement(text(stmt_sql + f" OFFSET {offset} LIMIT 1"))
                                 .params(**params)).one()
        return encode_cursor(row, cols)


def _measure(app, label: str, path: str, headers: dict, rows: int, last_cursor, requests: int,
             offset: bool = True) -> dict:
    client = app.test_client()
    last_page = max((rows - 1) // PAGE + 1, 1)
    sep = "&" if "?" in path else "?"
    after = f"&starting_after={last_cursor}" if last_cursor else ""
    offset_ms = (lambda page: _median_ms(client, f"{path}{sep}per_page={PAGE}&page={page}", headers, requests)) \
        if offset else (lambda page: None)
    return {"list": label, "rows": rows,
            "cursor_first_ms": _median_ms(client, f"{path}{sep}limit={PAGE}", headers, requests),
            "cursor_last_ms": _median_ms(client, f"{path}{sep}limit={PAGE}{after}", headers, requests),
            "offset_first_ms": offset_ms(1), "offset_last_ms": offset_ms(last_page)}


def _admin_headers(sub, prefix: str) -> dict:
    admin = fixtures.create_users(sub, prefix, 1)[0]
    with sub.app_context():
        db.session.execute(text("UPDATE users SET role = 'admin' WHERE id = :u"), {"u": admin["id"]})
        db.session.commit()
        token = create_access_token(identity=str(admin["id"]), additional_claims={"tv": 0, "role": "admin"})
    return {"Authorization": f"Bearer {token}"}


def _fill_customers(app, start: int, stop: int) -> None:
    """Customers start+1..stop, each with an active Pro subscription and one integration event, older as n grows."""
    with app.app_context():
        params = {"start": start, "stop": stop, "now": clock.utcnow(), "plan": str(PRO_MONTHLY_ID)}
        db.session.execute(text(
            "INSERT INTO users (email, password_hash, created_at, updated_at) SELECT 'customer' || n || "
            "'@lists.bench', 'x', :now - n * interval '1 second', :now FROM generate_series(:start + 1, :stop) n"),
            params)
        db.session.execute(text(
            "INSERT INTO subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, "
            "billing_cycle_anchor, created_at, updated_at) SELECT gen_random_uuid(), u.id, CAST(:plan AS uuid), "
            "'active', u.created_at, u.created_at + interval '30 days', u.created_at, u.created_at, :now "
            "FROM users u WHERE u.email LIKE 'customer%@lists.bench' AND u.id NOT IN (SELECT user_id FROM subscriptions)"),
            params)
        db.session.execute(text(
            "INSERT INTO integration_events (id, type, api_version, object_type, object_id, payload, created_at) "
            "SELECT 'evt_lists_' || n, 'invoice.paid', '2026-11-01', 'invoice', n::text, '{}', "
            ":now - n * interval '1 second' FROM generate_series(:start + 1, :stop) n"), params)
        db.session.execute(text("ANALYZE users; ANALYZE subscriptions; ANALYZE integration_events"))
        db.session.commit()


def _last_event_cursor(events: int) -> str | None:
    """The events list's cursor is an event id (oldest first): the one just before the last page."""
    offset = (events - 1) // PAGE * PAGE - 1
    if offset < 0:
        return None
    return db.session.scalar(select(IntegrationEvent.id).order_by(IntegrationEvent.created_at, IntegrationEvent.id)
                             .offset(offset).limit(1))


def run_admin_lists(sub, sizes: list[int], requests: int) -> list[dict]:
    """The operator's lists at each size: customers and subscriptions newest first, events oldest first."""
    headers, results, have = _admin_headers(sub, "lists-ops"), [], 0
    for size in sorted(sizes):
        _fill_customers(sub, have, size)
        have = size
        with sub.app_context():
            customers = db.session.scalar(text("SELECT count(*) FROM users"))
            subscriptions = db.session.scalar(text("SELECT count(*) FROM subscriptions"))
            events = db.session.scalar(text("SELECT count(*) FROM integration_events"))
            event_cursor = _last_event_cursor(events)
        results.append(_measure(sub, "GET /v1/admin/customers", "/v1/admin/customers", headers, customers, _last_cursor(
            sub, "SELECT * FROM users ORDER BY created_at DESC, id DESC", [User.created_at, User.id], User, {},
            customers), requests))
        results.append(_measure(sub, "GET /v1/admin/subscriptions", "/v1/admin/subscriptions", headers, subscriptions,
                                _last_cursor(sub, "SELECT * FROM subscriptions ORDER BY created_at DESC, id DESC",
                                             [Subscription.created_at, Subscription.id], Subscription, {},
                                             subscriptions), requests))
        results.append(_measure(sub, "GET /v1/admin/events", "/v1/admin/events", headers, events, event_cursor,
                                requests, offset=False))
        print(f"[lists] admin at {size:,} customers: {results[-3:]}", flush=True)
    return results


def run_lists(sub, pay, sizes: list[int], audit_rows: int, requests: int, admin_sizes: list[int] = ()) -> list[dict]:
    results = []
    for rows in sizes:
        user = fixtures.create_users(sub, f"lists{rows}", 1)[0]
        _fill(sub, user["id"], rows)
        with sub.app_context():
            db.session.execute(text("ANALYZE transactions; ANALYZE invoices"))
            db.session.commit()
        headers = {"Authorization": f"Bearer {user['token']}"}
        params = {"u": user["id"]}
        txn_cursor = _last_cursor(pay, "SELECT * FROM transactions WHERE user_id = :u ORDER BY created_at DESC, id DESC",
                                  [Transaction.created_at, Transaction.id], Transaction, params, rows)
        inv_cursor = _last_cursor(sub, "SELECT * FROM invoices WHERE user_id = :u ORDER BY number DESC",
                                  [Invoice.number], Invoice, params, rows)
        results.append(_measure(pay, "GET /v1/payments/transactions", "/v1/payments/transactions", headers, rows,
                                txn_cursor, requests))
        results.append(_measure(sub, "GET /v1/invoices", "/v1/invoices", headers, rows, inv_cursor, requests))
        print(f"[lists] {rows} rows: {results[-2]} {results[-1]}", flush=True)
    if audit_rows:
        headers = _admin_headers(sub, "lists-admin")
        with sub.app_context():
            db.session.execute(text(
                "INSERT INTO audit_events (source, action, object_type, object_id, at) SELECT 'cli', "
                "'plan.updated', 'plan', n::text, :now - n * interval '1 second' FROM generate_series(1, :rows) n"),
                {"rows": audit_rows, "now": clock.utcnow()})
            db.session.execute(text("ANALYZE audit_events"))
            db.session.commit()
            total = db.session.scalar(text("SELECT count(*) FROM audit_events"))
        cursor = _last_cursor(sub, "SELECT * FROM audit_events ORDER BY at DESC, id DESC",
                              [AuditEvent.at, AuditEvent.id], AuditEvent, {}, total)
        results.append(_measure(sub, "GET /v1/admin/audit", "/v1/admin/audit", headers, total, cursor, requests))
        print(f"[lists] audit: {results[-1]}", flush=True)
    return results + run_admin_lists(sub, admin_sizes, requests)


def growth(rows: list[dict]) -> list[dict]:
    """Per list, how its pages' latency grows from the fewest rows to the most (1.0: not at all)."""
    out = []
    for label in dict.fromkeys(r["list"] for r in rows):
        mine = sorted((r for r in rows if r["list"] == label), key=lambda r: r["rows"])
        low, high = mine[0], mine[-1]
        out.append({"list": label, "from_rows": low["rows"], "to_rows": high["rows"],
                    **{f"{key}_growth": round(high[key] / low[key], 2) if low[key] else None
                       for key in ("cursor_first_ms", "cursor_last_ms", "offset_first_ms", "offset_last_ms")}})
    return out


def _apps(settings):
    """Both apps, each also served on a loopback port: they call each other (token checks, webhooks)."""
    apps, servers = {}, {}
    for name in ("subscription", "payment"):
        servers[name] = make_server("127.0.0.1", 0, lambda env, start, n=name: apps[n](env, start), threaded=True)
        threading.Thread(target=servers[name].serve_forever, daemon=True).start()
    urls = {n: f"http://127.0.0.1:{s.server_port}" for n, s in servers.items()}
    settings = settings.model_copy(update={"subscription_service_url": urls["subscription"],
                                           "payment_service_url": urls["payment"],
                                           "gateway_min_delay_ms": 0, "gateway_max_delay_ms": 0,
                                           "gateway_success_rate": 1.0})
    apps["subscription"], apps["payment"] = create_subscription(settings), create_payment(settings)
    for app in apps.values():
        register_app(app)  # the in-process worker runs each job in these apps
    return apps["subscription"], apps["payment"], servers


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,100,10000")
    p.add_argument("--audit-rows", type=int, default=100000)
    p.add_argument("--admin-sizes", default="1000,100000",
                   help="customers (each with a subscription and an event) for the admin lists, comma separated")
    p.add_argument("--requests", type=int, default=30, help="measured requests per page (median kept)")
    p.add_argument("--retention", action="store_true", help="the retention figures instead of the lists")
    p.add_argument("--outbox-rows", type=int, default=1000000)
    p.add_argument("--json", help="also write the rows to this file (python -m bench.run reads it)")
    args = p.parse_args(argv)

    os.environ.update(fixtures.inprocess_env())

    settings = load_settings()
    fixtures.guard_database(settings.database_url)
    fixtures.ensure_services(settings.database_url, settings.redis_url)
    sub, pay, servers = _apps(settings)
    fixtures.reset_database(sub)
    sub.extensions["redis"].flushdb()
    fixtures.quiet_logging(settings)
    started = time.monotonic()
    if args.retention:
        rows = retention_cost.run(sub, pay, args.outbox_rows)
    else:
        rows = run_lists(sub, pay, [int(s) for s in args.sizes.split(",")], args.audit_rows, args.requests,
                         [int(s) for s in args.admin_sizes.split(",") if s])
    print()
    for row in rows:
        print(" | ".join(f"{k}={v}" for k, v in row.items()))
    print(f"[lists] done in {time.monotonic() - started:.0f}s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=str)
    for server in servers.values():
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
