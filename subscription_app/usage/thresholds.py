"""Usage alerts: one `usage.threshold_reached` per threshold per feature per period (docs/usage-billing.md).

The thresholds travel in the cached entitlement ("t:<feature>" = "80:800,100:1000"), and the
use script returns them with the new count, so the one call whose increment passes a threshold
sees it with no extra round trip. A unique row per (user, feature, period, threshold) makes the
event once-only even if two processes see the same crossing.
"""
from __future__ import annotations

import functools
import logging

from sqlalchemy.dialects.postgresql import insert

from core.extensions import db
from subscription_app import integrations
from subscription_app.usage import ledger
from subscription_app.usage.models import UsageThresholdCrossing

log = logging.getLogger(__name__)
DEFAULT_PERCENTS = (80, 100)


def marks(limits: dict[str, int], pricing: dict[str, dict]) -> dict[str, str]:
    """Per feature, its thresholds as absolute quantities of its included units (a hard cap if unpriced)."""
    result = {}
    for feature, limit in limits.items():
        spec = pricing.get(feature)
        base = spec["included"] if spec else max(limit, 0)
        percents = (spec or {}).get("alert_percents") or DEFAULT_PERCENTS
        if base > 0:
            result[feature] = ",".join(f"{p}:{-(-base * p // 100)}" for p in percents)
    return result


@functools.lru_cache(maxsize=1024)  # a plan's few marks strings, read for every counted use
def _pairs(marks_field: str) -> tuple[tuple[int, int], ...]:
    return tuple(tuple(int(x) for x in mark.split(":")) for mark in marks_field.split(",") if mark)


def crossed(marks_field: str, used: int, delta: int) -> list[tuple[int, int]]:
    return [(percent, quantity) for percent, quantity in _pairs(marks_field) if used - delta < quantity <= used]


def record(user_id: int, feature: str, ps: int, pe: int, used: int, reached: list[tuple[int, int]]) -> int:
    rows = [{"user_id": user_id, "feature": feature, "period_start": ledger.as_datetime(ps),
             "threshold_percent": p, "threshold_quantity": q, "used": used} for p, q in reached]
    new = db.session.execute(insert(UsageThresholdCrossing).values(rows).on_conflict_do_nothing()
                             .returning(UsageThresholdCrossing.threshold_percent,
                                        UsageThresholdCrossing.threshold_quantity)).all()
    for percent, quantity in new:
        payload = {"customer": user_id, "feature": feature, "threshold_percent": percent,
                   "threshold_quantity": quantity, "used": used,
                   "period_start": ledger.as_datetime(ps).isoformat(), "period_end": ledger.as_datetime(pe).isoformat()}
        integrations.emit("usage.threshold_reached", "usage", f"{user_id}:{feature}", payload)
        log.info("usage.threshold_reached: user %s %s reached %s%% (%s units)", user_id, feature, percent, quantity)
    return len(new)


def check_crossed(user_id: int, feature: str, ps: int, pe: int, used: int, delta: int, marks_field: str) -> None:
    """After a counted use: record the thresholds this increment passed; the use itself stands regardless."""
    reached = crossed(marks_field, used, delta)
    if not reached:
        return
    try:
        record(user_id, feature, ps, pe, used, reached)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the usage is counted; a lost alert is logged, not the caller's failure
        db.session.rollback()
        log.warning("could not record usage threshold of user %s %s", user_id, feature, exc_info=True)
