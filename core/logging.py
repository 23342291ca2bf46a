"""Structured logs: one JSON object per line (or readable text), with the request id.

Every process (web, worker, scheduler, CLI) calls configure_logging() once; the handler
it installs on the root logger stamps each record with `service` and `request_id`, so a
payment can be followed from the HTTP request through the jobs it enqueued by grepping
one id. current_request_id() is the single way to read that id: from the request in a
web process, from job.meta["request_id"] inside an RQ job (set by core.queues.enqueue),
else None.

LOG_FORMAT=json|text (json by default in production, text elsewhere), LOG_LEVEL.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from flask_jwt_extended import get_jwt_identity
from pythonjsonlogger.json import JsonFormatter
from rq import get_current_job

REQUEST_LOGGER = "billing.request"
SECURITY_LOGGER = "billing.security"
TEXT_FORMAT = ("%(asctime)s %(levelname)s %(name)s [%(service)s/%(process_type)s rid=%(request_id)s "
               "job=%(job_id)s] %(message)s")
JSON_FIELDS = ("asctime", "levelname", "name", "message", "service", "process_type", "request_id", "job_id")
_HANDLER_MARK = "_billing_handler"
QUIET_ENDPOINTS = ("/metrics", "/v1/health")


_bound_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("bound_request_id", default=None)
_bound_job = contextvars.ContextVar("bound_job", default=None)


@contextlib.contextmanager
def bind_request_id(request_id: str | None):
    """Within the block, current_request_id() is `request_id`.

    For code that works on rows written by several requests, e.g. an outbox sweeper that
    stored each row's request id: `with bind_request_id(row.request_id): deliver(row)`.
    """
    token = _bound_request_id.set(request_id)
    try:
        yield
    finally:
        _bound_request_id.reset(token)


@contextlib.contextmanager
def bind_job(job):
    """Within the block, log lines carry this RQ job's id, request id and enqueuing service.

    The worker wraps each job's execution in it: RQ's own lines about the job are written
    outside the job's function, where get_current_job() does not know it yet or any more.
    """
    token = _bound_job.set(job)
    try:
        yield
    finally:
        _bound_job.reset(token)


def current_job():
    """The RQ job bound by bind_job(), else RQ's current job, else None."""
    job = _bound_job.get()
    if job is not None:
        return job
    return get_current_job()


def current_request_id() -> str | None:
    """The request id bound by bind_request_id(), else the HTTP request's, else the RQ job's, else None."""
    bound = _bound_request_id.get()
    if bound:
        return bound
    if has_request_context():
        rid = g.get("request_id")
        if rid:
            return rid
    job = current_job()
    if job is not None:
        return (job.meta or {}).get("request_id")
    return None


class ContextFilter(logging.Filter):
    """Adds service and request_id to every record passing through our handler."""

    def __init__(self, service: str, process: str):
        super().__init__()
        self.service = service
        self.process_type = process

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            try:
                record.request_id = current_request_id()
            except Exception:  # noqa: BLE001 - a log line must never fail on its context
                record.request_id = None
        job = current_job() if not hasattr(record, "job_id") or not getattr(record, "service", None) else None
        if not getattr(record, "service", None):
            # Tests run both services in one process: prefer the app actually handling this, then
            # the service that enqueued the job (RQ's own lines run outside any app).
            if has_app_context():
                record.service = current_app.config["SERVICE_NAME"]
            else:
                record.service = (job.meta or {}).get("service") if job is not None else None
                record.service = record.service or self.service
        record.process_type = self.process_type
        if not hasattr(record, "job_id"):
            record.job_id = job.id if job is not None else None
        return True


def _formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(list(JSON_FIELDS), rename_fields={
            "asctime": "ts", "levelname": "level", "name": "logger", "process_type": "process"})
    return logging.Formatter(TEXT_FORMAT)


def resolve_format(settings) -> str:
    fmt = (getattr(settings, "log_format", "") or "").lower()
    if fmt in ("json", "text"):
        return fmt
    return "json" if settings.is_production else "text"


def is_configured() -> bool:
    return any(getattr(h, _HANDLER_MARK, False) for h in logging.getLogger().handlers)


def configure_logging(settings, service: str, process: str = "web", stream=None) -> logging.Handler:
    """Install (or replace) our handler on the root logger; safe to call more than once.

    `process` (web, worker, scheduler, cli) lands in every line as process_type.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(_formatter(resolve_format(settings)))
    handler.addFilter(ContextFilter(service, process))
    root.addHandler(handler)
    root.setLevel(str(settings.log_level).upper())
    return handler


def _user_id() -> str | None:
    """The JWT subject if the view verified a token, else None; never raises.

    Routes that do not check a token log no user: decoding it here would cost a token decode on
    every request, and an unverified `sub` would let anyone write any user id into the logs.
    """
    try:
        identity = get_jwt_identity()
    except Exception:  # noqa: BLE001 - RuntimeError when the view did not verify a token
        return None
    return str(identity) if identity is not None else None


def security_event(event: str, message: str, **fields) -> None:
    """A security-relevant refusal, at WARNING, with a stable `event` name to alert on."""
    logging.getLogger(SECURITY_LOGGER).warning(message, extra={"event": event, **fields})


_request_log = logging.getLogger(REQUEST_LOGGER)


def _log_request(response):
    # Every request pays for this line. The level is checked before anything is built; the request
    # and g are looked up once (each proxy lookup costs a context-variable read); the record is made
    # directly (no caller lookup: it would always name this function) with the fields ContextFilter
    # would otherwise look up again.
    req = request._get_current_object()
    status = response.status_code
    endpoint = req.url_rule.rule if req.url_rule else None
    if status in (401, 403):
        level = None
    elif status >= 500:
        level = logging.ERROR
    elif endpoint in QUIET_ENDPOINTS and status < 400:
        level = logging.DEBUG  # scrapes and load-balancer probes every few seconds
    else:
        level = logging.INFO
    if level is not None and not _request_log.isEnabledFor(level):
        return response
    ctx_g = g._get_current_object()
    started = getattr(ctx_g, "request_started", None)
    latency_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    method, path = req.method, req.path
    fields = {"method": method, "path": path, "status": status, "latency_ms": latency_ms, "user_id": _user_id(),
              "endpoint": endpoint, "remote_addr": req.remote_addr}
    message = f"{method} {path} {status} {latency_ms}ms"
    if level is None:
        security_event("forbidden" if status == 403 else "unauthorized", message, **fields)
        return response
    fields.update(request_id=current_request_id(), service=current_app.config["SERVICE_NAME"], job_id=None)
    _request_log.handle(_request_log.makeRecord(REQUEST_LOGGER, level, __file__, 0, message, None, None,
                                                func="_log_request", extra=fields))
    return response


def init_app(app: Flask) -> None:
    """One log line per request (method, path, status, latency_ms, user_id, request_id)."""
    if not is_configured():  # a worker configured itself first; an app built later keeps that
        configure_logging(app.config["SETTINGS"], app.config["SERVICE_NAME"])
    app.after_request(_log_request)
