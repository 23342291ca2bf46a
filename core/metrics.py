"""Prometheus metrics: GET /metrics on both services, and the calls other code makes.

Two kinds of metric, kept where they can be counted correctly:

* Per-process HTTP metrics (request count and latency by endpoint and status) live in
  prometheus-client. Under gunicorn with several workers, PROMETHEUS_MULTIPROC_DIR
  (prepared by gunicorn.conf.py) makes every worker write to files that /metrics merges;
  without it the in-process registry is used (tests, `flask run`). `endpoint` is the
  Flask URL rule (`/v1/subscriptions/<uuid:subscription_id>`), never the raw path, so
  cardinality is bounded.
* Business metrics happen mostly in RQ workers, which nobody scrapes: payment_outcome(),
  webhook_delivery() and usage_sync() write to small Redis hashes (one round trip each),
  and /metrics reads them, with the queue depths, at scrape time. Each family is exposed
  by one service only, the one owning the events (build_app's `cluster_metrics`), so a
  Prometheus sum() over both targets counts each event once (docs/metrics.md). A metrics
  call never raises into the caller.
* Process and platform metrics (process_*, python_info): prometheus-client's collectors,
  for the process answering the scrape (under gunicorn, one of its workers).
* A business fact decided inside a database transaction is counted by on_commit()
  (core/on_commit.py), once that transaction commits: a rolled-back attempt that is retried
  counts once, not twice.

METRICS_TOKEN, when set, makes /metrics require `Authorization: Bearer <token>`.
"""
from __future__ import annotations

import functools
import hmac
import logging
import os
import re
import time

from flask import Flask, Response, current_app, g, has_app_context, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               PlatformCollector, ProcessCollector, generate_latest)
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from redis.commands.core import Script

from core.queues import queue_stats

log = logging.getLogger(__name__)

REQUESTS = Counter("billing_http_requests_total", "HTTP requests by endpoint (URL rule) and status.",
                   ["service", "method", "endpoint", "status"])
LATENCY = Histogram("billing_http_request_duration_seconds", "HTTP request latency by endpoint and status.",
                    ["service", "method", "endpoint", "status"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

PAYMENTS_KEY = "metrics:payments"
WEBHOOKS_KEY = "metrics:webhooks:{service}"  # per service: each exposes its own outbox's deliveries
USAGE_SYNC_KEY = "metrics:usage_sync"
# The Redis-held families a service's /metrics can expose (build_app's cluster_metrics).
FAMILIES = ("queues", "payments", "webhooks", "usage_sync")
UNMATCHED = "<unmatched>"
_LABEL_RE = re.compile(r"^[a-z0-9_.:-]{1,64}$")
# A label value outside this shape becomes "other": callers can never explode cardinality.
MAX_FIELDS = 200


def _label(value) -> str:
    text = str(value).strip().lower()
    return text if _LABEL_RE.match(text) else "other"


def _redis():
    if not has_app_context():
        return None
    return current_app.extensions.get("redis")


_breaker = {"open_until": 0.0}
BREAKER_SECONDS = 10.0


def _record(action) -> None:
    conn = _redis()
    if conn is None:
        log.debug("metric dropped: no app context")
        return
    if time.monotonic() < _breaker["open_until"]:
        return  # Redis failed a moment ago: drop metrics rather than slow every caller down
    try:
        action(conn)
    except Exception as exc:  # noqa: BLE001 - metrics must never break a payment or a job
        _breaker["open_until"] = time.monotonic() + BREAKER_SECONDS
        log.warning("metrics not recorded for %ss: %s", BREAKER_SECONDS, exc.__class__.__name__)


# KEYS: the hash; ARGV: field, MAX_FIELDS. A field the hash does not have yet goes to "other"
# once the hash is full. One script, so one round trip on every payment and every delivery.
CAPPED_HINCR_SCRIPT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  return redis.call('HINCRBY', KEYS[1], 'other', 1)
end
return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
"""


@functools.lru_cache(maxsize=8)
def _capped_hincr(conn) -> Script:
    """The script registered on this client once: EVALSHA, loading it again after a SCRIPT FLUSH."""
    return conn.register_script(CAPPED_HINCR_SCRIPT)


def _hincr(conn, key: str, field: str) -> None:
    _capped_hincr(conn)(keys=[key], args=[field, MAX_FIELDS])


# --- The API the rest of the code calls -------------------------------------------------

def payment_outcome(outcome: str) -> None:
    """Count one payment attempt's outcome: succeeded, failed, refunded, ..."""
    _record(lambda conn: _hincr(conn, PAYMENTS_KEY, _label(outcome)))


def webhooks_key(service: str) -> str:
    return WEBHOOKS_KEY.format(service=_label(service))


def webhook_delivery(event_type: str, outcome: str) -> None:
    """Count one delivery attempt of this service's outbox: outcome delivered, failed, dead, duplicate, ..."""
    def _write(conn):
        _hincr(conn, webhooks_key(current_app.config["SERVICE_NAME"]), f"{_label(event_type)}|{_label(outcome)}")
    _record(_write)


def usage_sync(lag_seconds: float, keys: int) -> None:
    """Record one usage-counter sync run: how stale the oldest synced counter was, how many keys."""
    def _write(conn):
        pipe = conn.pipeline(transaction=False)
        pipe.hset(USAGE_SYNC_KEY, mapping={"lag_seconds": float(lag_seconds), "keys": int(keys),
                                           "last_run": time.time()})
        pipe.hincrby(USAGE_SYNC_KEY, "runs", 1)
        pipe.execute()
    _record(_write)


# --- Scrape-time collection ------------------------------------------------------------

def _decode(mapping: dict) -> dict:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in mapping.items()}


class ClusterCollector:
    """The Redis-held families this service owns (queue depths, business counters), read at scrape time."""

    def __init__(self, conn, families=FAMILIES, service: str = ""):
        self.conn = conn
        self.families = frozenset(families)
        self.service = service

    def _read(self) -> dict:
        reads = {"queues": lambda: queue_stats(self.conn),
                 "payments": lambda: _decode(self.conn.hgetall(PAYMENTS_KEY)),
                 "webhooks": lambda: _decode(self.conn.hgetall(webhooks_key(self.service))),
                 "usage_sync": lambda: _decode(self.conn.hgetall(USAGE_SYNC_KEY))}
        return {family: read() if family in self.families else {} for family, read in reads.items()}

    def collect(self):
        up = GaugeMetricFamily("billing_metrics_redis_up", "1 if queue and business metrics could be read.")
        try:
            data = self._read()
        except Exception as exc:  # noqa: BLE001 - /metrics answers even with Redis down
            log.warning("metrics: redis unavailable (%s)", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        if "queues" in self.families:
            yield from _queue_families(data["queues"])
        if "payments" in self.families:
            yield _labelled_counter("billing_payments", "Payment outcomes.", ["outcome"], data["payments"])
        if "webhooks" in self.families:
            yield _labelled_counter("billing_webhook_deliveries", "Delivery attempts of this service's outbox.",
                                    ["event_type", "outcome"], data["webhooks"])
        if data["usage_sync"]:
            yield from _usage_families(data["usage_sync"])


def _queue_families(stats: dict):
    depth = GaugeMetricFamily("billing_queue_depth", "Jobs waiting per RQ queue.", labels=["queue"])
    failed = GaugeMetricFamily("billing_queue_failed_jobs", "Jobs in the failed registry per queue.",
                               labels=["queue"])
    workers = GaugeMetricFamily("billing_queue_workers", "Workers listening per queue.", labels=["queue"])
    for name, s in stats.items():
        depth.add_metric([name], s["depth"])
        failed.add_metric([name], s["failed"])
        workers.add_metric([name], s["workers"])
    return depth, failed, workers


def _labelled_counter(name: str, doc: str, labels: list[str], counts: dict) -> CounterMetricFamily:
    """A counter from a hash whose fields are the label values joined by "|" (a missing one reads "other")."""
    family = CounterMetricFamily(name, doc, labels=labels)
    for field, count in sorted(counts.items()):
        parts = field.split("|", len(labels) - 1)
        family.add_metric(parts + ["other"] * (len(labels) - len(parts)), float(count))
    return family


def _usage_families(usage: dict):
    yield _gauge("billing_usage_sync_lag_seconds", "Lag of the last usage sync run.", usage, "lag_seconds")
    yield _gauge("billing_usage_sync_keys", "Counters written by the last usage sync run.", usage, "keys")
    yield _gauge("billing_usage_sync_last_run_timestamp_seconds", "When the last usage sync ran.",
                 usage, "last_run")
    runs = CounterMetricFamily("billing_usage_sync_runs", "Usage sync runs.")
    runs.add_metric([], float(usage.get("runs", 0)))
    yield runs


def _gauge(name: str, doc: str, values: dict, field: str) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, doc)
    gauge.add_metric([], float(values.get(field, 0)))
    return gauge


def exposition(conn, families=FAMILIES, service: str = "") -> bytes:
    """The full /metrics body: this process's (or all gunicorn workers') metrics, then this service's cluster ones."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        local = CollectorRegistry()
        multiprocess.MultiProcessCollector(local)
        # Per process by nature: these describe the worker answering this scrape (docs/metrics.md).
        ProcessCollector(registry=local)
        PlatformCollector(registry=local)
    else:
        local = REGISTRY  # prometheus-client registers the process, platform and GC collectors there
    cluster = CollectorRegistry(auto_describe=False)
    cluster.register(ClusterCollector(conn, families, service))
    return generate_latest(local) + generate_latest(cluster)


# --- Flask wiring ----------------------------------------------------------------------

# (service, method, endpoint, status) -> the two labelled children: labels() validates and locks on every
# call, this is one dict read. As bounded as the label sets themselves (endpoints are URL rules).
_children: dict[tuple, tuple] = {}


def _observe(response):
    req = request._get_current_object()
    key = (current_app.config["SERVICE_NAME"], req.method, req.url_rule.rule if req.url_rule else UNMATCHED,
           str(response.status_code))
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(*key), LATENCY.labels(*key))
    children[0].inc()
    started = g.get("request_started")
    if started is not None:
        children[1].observe(time.perf_counter() - started)
    return response


def _authorised() -> bool:
    token = current_app.config["SETTINGS"].metrics_token
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    provided = header[len("Bearer "):] if header.startswith("Bearer ") else ""
    return hmac.compare_digest(provided.encode(), token.encode())


def metrics_view():
    if not _authorised():  # logged at WARNING by the request log line, like every 401
        return Response("metrics token required\n", 401, {"WWW-Authenticate": "Bearer"}, mimetype="text/plain")
    body = exposition(current_app.extensions["redis"], current_app.config["CLUSTER_METRICS"],
                      current_app.config["SERVICE_NAME"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask, cluster_metrics=FAMILIES) -> None:
    """`cluster_metrics`: the FAMILIES this service exposes, the ones whose events it owns."""
    unknown = set(cluster_metrics) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown metric families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    app.config["CLUSTER_METRICS"] = tuple(cluster_metrics)
    app.after_request(_observe)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view)
