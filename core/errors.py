"""One JSON error shape for every status, on both services.

    {"code": 404, "status": "Not Found", "message": "...", "errors": {...}, "request_id": "..."}

`errors` appears only when there are field-level details (validation). A 500 never
carries a stack trace; the trace goes to the log under the request id.
"""
from __future__ import annotations

import logging

import marshmallow as ma
import redis
import sqlalchemy.exc
from flask import Flask, g, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A domain error with an HTTP status, raised from the service layer."""

    def __init__(self, code: int, message: str, errors: dict | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


def error_body(code: int, message: str, errors: dict | None = None, extra: dict | None = None) -> dict:
    body = {"code": code, "status": HTTP_STATUS_CODES.get(code, "Error"), "message": message}
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    request_id = g.get("request_id") if g else None
    if request_id:
        body["request_id"] = request_id
    return body


def _respond(code, message, errors=None, headers=None, extra=None):
    response = jsonify(error_body(code, message, errors, extra))
    response.status_code = code
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class ErrorSchema(ma.Schema):
    """The one error shape, as documented in both OpenAPI specs (extra keys such as a usage
    limit's `used`/`limit`/`resets_at` may follow)."""

    class Meta:
        unknown = ma.INCLUDE

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong"})
    errors = ma.fields.Dict(metadata={"description": "Field errors, by location then field"})
    request_id = ma.fields.String(metadata={"description": "Also in the X-Request-ID header"})


class BillingApi(Api):
    """flask-smorest Api whose error handler emits the project's one error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        if error.code == 422 and errors:
            message = "Validation failed"
        elif error.code == 400 and errors:
            message = "Malformed request"
        else:
            message = data.get("message") or error.description or HTTP_STATUS_CODES.get(error.code, "Error")
        if isinstance(error, InternalServerError):
            message = "Internal server error"
        headers = dict(data.get("headers") or {})
        if error.code == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)
        return _respond(error.code or 500, message, errors, headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _respond(exc.code, exc.message, exc.errors, exc.headers, exc.extra)

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    @app.errorhandler(sqlalchemy.exc.InterfaceError)
    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    def _database_down(exc):
        log.error("database unavailable: %s", exc.__class__.__name__)
        return _respond(503, "Database unavailable, try again shortly", headers={"Retry-After": "5"})

    # Cluster answers that mean "not now" (a failover, a resharding, a replica cut off from its
    # master) are an outage like a refused connection; MasterDownError is a ClusterDownError.
    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(redis.exceptions.ClusterDownError)
    @app.errorhandler(redis.exceptions.TryAgainError)
    @app.errorhandler(redis.exceptions.SlotNotCoveredError)
    def _redis_down(exc):
        log.error("redis unavailable: %s", exc.__class__.__name__)
        return _respond(503, "Redis unavailable, try again shortly", headers={"Retry-After": "5"})

    @app.errorhandler(ServiceUnavailable)
    def _unavailable(exc):
        return _respond(503, exc.description or "Service unavailable", headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception):
        if isinstance(exc, HTTPException):
            return app.extensions["billing_api"].handle_http_exception(exc)
        log.exception("unhandled error")
        return _respond(500, "Internal server error")
