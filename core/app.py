"""The one app builder both services use; each service's create_app() calls it."""
from __future__ import annotations

import os
import time
from typing import Iterable

import swagger_ui_bundle
from flask import Flask, g, request, send_from_directory
from sqlalchemy.engine import make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from core import health, logging as billing_logging, metrics, ratelimit, status_wait
from core.blueprint import Blueprint
from core.cli import register_cli
from core.errors import BillingApi, register_error_handlers
from core.extensions import db, migrate, redis_ext
from core.jsonbody import BillingJSONProvider
from core.settings import Settings, load_settings
from core.tokens import TokenVersionLookup, configure_jwt

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWAGGER_ASSETS_URL = "/docs/assets/"
REQUEST_ID_HEADER = "X-Request-ID"


def _database_url(raw: str) -> str:
    """DATABASE_URL with the driver named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, we ship psycopg2."""
    if raw.startswith("postgres://"):  # Heroku style
        raw = "postgresql://" + raw[len("postgres://"):]
    url = make_url(raw)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return url.render_as_string(hide_password=False)


def _sqlalchemy_config(settings: Settings) -> dict:
    url = _database_url(settings.database_url)
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "pool_size": 5,
            "max_overflow": 10,
            "pool_timeout": 5,
            "pool_recycle": 1800,
            "connect_args": {"connect_timeout": 3, "options": "-c statement_timeout=15000"},
        },
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    }


def _openapi_config(title: str) -> dict:
    return {
        "API_TITLE": title,
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": SWAGGER_ASSETS_URL,
        "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": True},
        "API_SPEC_OPTIONS": {
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "serviceToken": {"type": "apiKey", "in": "header", "name": "X-Service-Token"},
                "webhookSignature": {"type": "apiKey", "in": "header", "name": "X-Webhook-Signature"},
            }},
        },
    }


def _register_request_id(app: Flask) -> None:
    # Every request runs these: one proxy lookup each, and a random id without building a UUID object.
    @app.before_request
    def _assign_request_id():
        ctx_g = g._get_current_object()
        ctx_g.request_started = time.perf_counter()  # read by the request log line and metrics
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        ctx_g.request_id = incoming[:64] if incoming and incoming.isprintable() else os.urandom(16).hex()

    @app.after_request
    def _return_request_id(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


def _register_docs_assets(app: Flask) -> None:
    assets = swagger_ui_bundle.swagger_ui_path

    @app.route(SWAGGER_ASSETS_URL + "<path:filename>", endpoint="swagger_assets")
    def swagger_assets(filename):
        return send_from_directory(assets, filename, max_age=86400)


def _trust_proxies(app: Flask, count: int) -> None:
    # Only the entries our own proxies append are trusted; a client can prepend anything.
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)


def build_app(import_name: str, *, service_name: str, title: str, blueprints: Iterable[Blueprint],
              settings: Settings | None = None, version_lookup: TokenVersionLookup = None,
              config: dict | None = None, cluster_metrics: Iterable[str] = metrics.FAMILIES) -> Flask:
    settings = (settings or load_settings()).validate()
    app = Flask(import_name)
    app.config["SETTINGS"] = settings
    app.config["SERVICE_NAME"] = service_name
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.config.update(_sqlalchemy_config(settings))
    app.config.update(_openapi_config(title))
    app.config.update(config or {})
    app.json = BillingJSONProvider(app)
    _trust_proxies(app, settings.trusted_proxies)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(REPO_ROOT, "migrations"))
    redis_ext.init_app(app)
    configure_jwt(app, version_lookup)
    ratelimit.init_app(app)
    status_wait.init_app(app)

    api = BillingApi(app)
    app.extensions["billing_api"] = api
    register_error_handlers(app)
    _register_request_id(app)
    billing_logging.init_app(app)
    metrics.init_app(app, cluster_metrics)
    _register_docs_assets(app)

    api.register_blueprint(health.blp)
    for blueprint in blueprints:
        if not isinstance(blueprint, Blueprint):  # its bodies would skip core.jsonbody's guards
            raise TypeError(f"blueprint {blueprint.name} must be a core.blueprint.Blueprint")
        api.register_blueprint(blueprint)

    register_cli(app)
    return app
