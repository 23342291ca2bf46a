"""The dashboard's figures, all from the revenue summary's SQL (backoffice/reports.py), so the page and
GET /v1/admin/reports/summary never disagree."""
from __future__ import annotations

from datetime import datetime

MONTHS_SHOWN = 6


def _last_months(now: datetime) -> list[str]:
    index = now.year * 12 + now.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - MONTHS_SHOWN + 1, index + 1)]


def revenue_by_month(summary: dict) -> dict[str, list[tuple[str, int]]]:
    """Collected less refunded per currency, one (YYYY-MM, minor units) pair per month of the last six."""
    months = _last_months(summary["as_of"])
    net: dict[tuple[str, str], int] = {}
    for row in summary["collected"]:
        net[(row["month"], row["currency"])] = net.get((row["month"], row["currency"]), 0) + row["cents"]
    for row in summary["refunded"]:
        net[(row["month"], row["currency"])] = net.get((row["month"], row["currency"]), 0) - row["cents"]
    currencies = sorted({currency for month, currency in net if month in months})
    return {c: [(m, net.get((m, c), 0)) for m in months] for c in currencies}


def bars(series: list[tuple[str, int]], height: int = 120, width: int = 60) -> list[dict]:
    """Bar geometry for the server-rendered SVG chart (no script on the page)."""
    top = max([abs(v) for _, v in series] + [1])
    return [{"label": label, "value": value, "x": i * width + 10, "w": width - 20,
             "h": round(abs(value) / top * height), "y": height - round(abs(value) / top * height) + 10}
            for i, (label, value) in enumerate(series)]
