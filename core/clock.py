"""The one clock the billing logic reads.

In development and tests an admin can move "now" forward (`flask clock advance`, or
the admin clock endpoint) so renewals, trial ends and dunning can be shown without
waiting a month. The offset lives in Redis so every process sees the same time; in
production the offset is ignored.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import current_app, has_app_context

OFFSET_KEY = "clock:offset_seconds"
_CACHE_SECONDS = 1.0
_cache: dict = {"value": 0.0, "read_at": 0.0}


def _offset_seconds() -> float:
    if not has_app_context() or current_app.config["SETTINGS"].is_production:
        return 0.0
    now = time.monotonic()
    if now - _cache["read_at"] > _CACHE_SECONDS:
        raw = current_app.extensions["redis"].get(OFFSET_KEY)
        _cache["value"] = float(raw) if raw else 0.0
        _cache["read_at"] = now
    return _cache["value"]


def utcnow() -> datetime:
    """Timezone-aware UTC now, plus the dev/test offset."""
    return datetime.fromtimestamp(time.time() + _offset_seconds(), tz=timezone.utc)


def set_offset(seconds: float) -> None:
    if current_app.config["SETTINGS"].is_production:
        raise RuntimeError("the clock cannot be moved in production")
    current_app.extensions["redis"].set(OFFSET_KEY, float(seconds))
    _cache["read_at"] = 0.0


def get_offset() -> float:
    _cache["read_at"] = 0.0
    return _offset_seconds()
