"""The dashboard and the audit log."""
from __future__ import annotations

from flask import request

from subscription_app.admin_ui import figures
from subscription_app.admin_ui.views import bp, page
from subscription_app.backoffice import reports
from subscription_app.catalog import audit

PER_PAGE = 50


def _page_number() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 10_000 else 1


@bp.route("/")
def dashboard():
    summary = reports.summary()
    charts = {currency: figures.bars(series) for currency, series in figures.revenue_by_month(summary).items()}
    this_month = {key: [r for r in summary[key] if r["month"] == summary["month"]] for key in ("collected", "refunded")}
    return page("dashboard.html", rows=reports.mrr_per_plan(), mrr=summary["mrr"], charts=charts, summary=summary,
                this_month=this_month)


@bp.route("/audit")
def audit_log():
    object_type = request.args.get("object_type") or None
    result = audit.list_events({"page": _page_number(), "per_page": PER_PAGE}, object_type=object_type)
    return page("audit.html", events=result["items"], meta=result["meta"], object_type=object_type or "")
