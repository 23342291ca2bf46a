"""Customers, read-only: search (email prefix, subscription status) on cursor pages, a CSV of the same
filters, and one customer's whole picture: credit held, subscriptions and their discounts, invoices,
credit notes, payments, usage this period and the operator actions on them."""
from __future__ import annotations

from flask import Response, abort, request, stream_with_context, url_for
from sqlalchemy import select

from core.errors import ApiError
from core.extensions import db
from subscription_app.admin_ui.views import bp, page
from subscription_app.backoffice import customers, export
from subscription_app.models import SUBSCRIPTION_STATUSES, Plan

LIMIT = 50


def _filters() -> tuple[dict, dict]:
    """(the query to keep in links, the filters customers.filtered reads); unknown statuses are dropped."""
    q = request.args.get("q", "").strip().lower()[:254]
    status = request.args.get("status", "")
    status = status if status in SUBSCRIPTION_STATUSES else ""
    return {"q": q, "status": status}, {"email_prefix": q or None, "status": status or None}


@bp.route("/customers")
def customer_list():
    query, filters = _filters()
    after, error = request.args.get("after"), None
    try:
        result = customers.search({"limit": LIMIT, **({"starting_after": after} if after else {})}, **filters)
    except ApiError as exc:
        error, result = exc.message, {"items": [], "next_cursor": None}
    next_url = url_for("admin_ui.customer_list", **query, after=result["next_cursor"]) if result["next_cursor"] else None
    return page("customers.html", 422 if error else 200, customers=result["items"], q=query["q"],
                status=query["status"], statuses=SUBSCRIPTION_STATUSES, next_url=next_url, error=error,
                export_url=url_for("admin_ui.customer_export", **query))


@bp.route("/customers/export.csv")
def customer_export():
    """The list's filters as CSV, streamed (backoffice/export.py, as GET /v1/admin/customers/export.csv)."""
    return Response(stream_with_context(export.customers_csv(_filters()[1])), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=customers.csv"})


@bp.route("/customers/<int:user_id>")
def customer_detail(user_id: int):
    """What GET /v1/admin/customers/{id} answers (backoffice/customers.py), with each subscription's plan."""
    try:
        found = customers.detail(user_id)
    except ApiError:
        abort(404)
    subs = found["subscriptions"]
    plans = {p.id: p for p in db.session.scalars(select(Plan).where(Plan.id.in_({s.plan_id for s in subs})))}
    discounts = {d.subscription_id: d for d in found["discounts"]}
    found["subscriptions"] = [(s, plans[s.plan_id], discounts.get(s.id)) for s in subs]
    return page("customer.html", **found)
