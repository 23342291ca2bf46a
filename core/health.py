"""Health endpoints shared by both services: /v1/health, /detailed, /queues.

Each check opens no new pools: it uses the app's engine (pre-ping, short connect
timeout) and Redis client, so the answer recovers by itself once a dependency is back.
"""
from __future__ import annotations

import time

from flask import current_app
from sqlalchemy import text

from core.blueprint import Blueprint
from core.extensions import db, get_redis
from core.schemas import HealthSchema, DetailedHealthSchema, QueuesHealthSchema
from core.queues import queue_stats

blp = Blueprint("health", __name__, url_prefix="/v1/health", description="Liveness and dependency checks")


def init_periodic_status(app, status) -> None:
    """The composition root hands in what reports periodic jobs (core knows no job registry)."""
    app.extensions["periodic_status"] = status


def _periodic_status() -> dict:
    status = current_app.extensions.get("periodic_status")
    return status(get_redis()) if status else {}


def _service_name() -> str:
    return current_app.config["SERVICE_NAME"]


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        details = check() or {}
        result = {"status": "healthy", **details}
    except Exception as exc:  # noqa: BLE001 - a health check reports any failure
        current_app.logger.warning("health check failed: %s", exc.__class__.__name__)
        result = {"status": "unhealthy", "error": exc.__class__.__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _check_database():
    db.session.execute(text("SELECT 1"))
    db.session.rollback()


def _check_redis():
    get_redis().ping()


def _check_queues():
    return {"queues": queue_stats(get_redis())}


@blp.route("")
@blp.response(200, HealthSchema)
def health():
    """Liveness: the process answers."""
    return {"status": "healthy", "service": _service_name()}


@blp.route("/detailed")
@blp.response(200, DetailedHealthSchema)
@blp.alt_response(503, schema=DetailedHealthSchema, description="A dependency is down")
def detailed():
    """Database, Redis and queue checks; 503 naming the failed check."""
    checks = {"database": _timed(_check_database), "redis": _timed(_check_redis)}
    checks["queues"] = _timed(_check_queues) if checks["redis"]["status"] == "healthy" else {
        "status": "unhealthy", "error": "redis unavailable"}
    healthy = all(c["status"] == "healthy" for c in checks.values())
    body = {"status": "healthy" if healthy else "unhealthy", "service": _service_name(), "checks": checks}
    return body, 200 if healthy else 503


@blp.route("/queues")
@blp.response(200, QueuesHealthSchema)
@blp.alt_response(503, schema=QueuesHealthSchema, description="Redis is down")
def queues():
    """Depth, failed jobs and workers per RQ queue, plus periodic job status."""
    try:
        stats = queue_stats(get_redis())
    except Exception as exc:  # noqa: BLE001
        return {"status": "unhealthy", "service": _service_name(), "queues": {},
                "error": exc.__class__.__name__}, 503
    return {"status": "healthy", "service": _service_name(), "queues": stats,
            "periodic_jobs": _periodic_status()}
