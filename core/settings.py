"""Typed settings read from the environment, each variable declared once.

Every field below is one environment variable: its name (the field's name upper-cased, or
its alias), type, development default and description. `scripts/settings_docs.py` generates
docs/configuration.md and .env.example from this declaration. Variable names follow the public
contract (the seed README). In production (APP_ENV=production) a default or short secret stops
the app at start with a message naming the variable.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "dev-jwt-secret-change-in-production-32-chars-minimum"
DEV_WEBHOOK_SECRET = "dev-webhook-secret-change-in-production-32-chars-minimum"
DEV_SERVICE_SECRET = "dev-service-secret-change-in-production-32-chars-min"
DEV_DASHBOARD_PASSWORD = "dev-dashboard-password"
MIN_SECRET_LENGTH = 32
# Fields whose values never appear in an error message.
_SECRET_WORDS = ("secret", "password", "token")

CommaSeparated = Annotated[tuple[str, ...], NoDecode]
CommaSeparatedInts = Annotated[tuple[int, ...], NoDecode]


class SettingsError(RuntimeError):
    """A setting is missing or unsafe; the message names the variable."""


def _aliased(name: str, description: str, default):
    """A field read from the variable `name` when it differs from the field's own name."""
    return Field(default, description=description, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True,
                                      extra="ignore", case_sensitive=False)

    app_env: str = Field("development", description="`production` enforces real secrets; `test` in the test suite")
    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/billing",
                              description="PostgreSQL URL (a Heroku-style `postgres://` works too)")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for queues, caches and rate limits")
    usage_redis_url: str = Field("", description="Redis for usage counters; empty: `REDIS_URL`")
    usage_redis_cluster: bool = Field(False, description="`USAGE_REDIS_URL` is one node of a Redis Cluster, "
                                      "reached through redis-py's RedisCluster (the usage keys of one customer "
                                      "share a hash tag, so each script runs in one slot)")
    usage_sync_interval_seconds: int = Field(10, description="How often usage counters are copied to PostgreSQL")
    usage_max_delta: int = Field(10000, description="Largest `delta` one usage request may consume")
    usage_entitlement_ttl_seconds: int = Field(30, description="How long a user's plan limits stay cached in Redis")
    usage_idempotency_ttl_seconds: int = Field(86400, description="How long a usage Idempotency-Key is kept (>= 24 h)")
    usage_counter_grace_days: int = Field(7, description="Days a finished period's usage counter is kept in Redis")
    payment_service_url: str = Field("http://127.0.0.1:8002", description="Base URL of payment_app")
    subscription_service_url: str = Field("http://127.0.0.1:8001", description="Base URL of subscription_app")

    jwt_secret_key: str = Field(DEV_JWT_SECRET,
                                description="Signs access and refresh tokens (>= 32 chars in production)")
    jwt_algorithm: str = Field("HS256", description="JWT signing algorithm")
    jwt_access_token_expire_minutes: int = Field(60, description="Access token lifetime")
    jwt_refresh_token_expire_days: int = Field(30, description="Refresh token lifetime")
    jwt_audience: str = Field("billing-api", description="`aud` claim issued and required")
    token_version_cache_seconds: int = Field(
        300, description="How long Redis caches a user's token version; also bounds how long a user row "
                         "changed behind the app's back (plain SQL) keeps its tokens working")

    webhook_signing_secrets: CommaSeparated = _aliased(
        "WEBHOOK_SIGNING_SECRET", "Webhook HMAC secrets, comma separated for rotation: the first signs, all verify",
        (DEV_WEBHOOK_SECRET,))
    webhook_tolerance_seconds: int = Field(300, description="Accepted clock skew of a webhook's timestamp")
    service_to_service_secret: str = Field(
        DEV_SERVICE_SECRET,
        description="Token the services send each other in X-Service-Token (>= 32 chars in production)")

    payment_gateway_success_card: str = Field("4242424242424242", description="The mock gateway's always-approved card")
    gateway_success_rate: float = Field(0.8, description="Share of other cards the mock gateway approves (0..1)")
    gateway_min_delay_ms: int = Field(1000, description="Mock gateway's shortest processing delay")
    gateway_max_delay_ms: int = Field(3000, description="Mock gateway's longest processing delay")

    billing_cycle_seconds: int = Field(60, description="How often the periodic job looks for due periods")
    billing_batch_size: int = Field(100, description="Rows the billing job locks and commits together")
    billing_job_budget_seconds: int = Field(240, description="The billing job stops after this and enqueues the rest")
    dunning_retry_days: CommaSeparatedInts = Field(
        (1, 3, 5), description="Days after a failed renewal when it is retried, comma separated, increasing")
    incomplete_expiry_hours: int = Field(23, description="How long an unpaid new subscription waits before expiring")
    trial_will_end_days: int = Field(3, description="Days before a trial ends when `trial_will_end` is written")

    bcrypt_rounds: int = Field(12, description="bcrypt cost of password hashes")
    max_content_length: int = Field(64 * 1024, description="Largest request body in bytes (413 above)")
    dashboard_username: str = _aliased("RQ_DASHBOARD_USERNAME", "RQ dashboard login", "admin")
    dashboard_password: str = _aliased("RQ_DASHBOARD_PASSWORD", "RQ dashboard password (required in production)",
                                   DEV_DASHBOARD_PASSWORD)
    log_level: str = Field("INFO", description="Python log level of both services, workers and gunicorn")
    outgoing_webhook_connect_timeout_seconds: float = Field(
        2.0, description="Integrator webhooks (docs/webhooks.md): seconds to connect to a receiver")
    outgoing_webhook_read_timeout_seconds: float = Field(
        5.0, description="Integrator webhooks: seconds a receiver may take per read before the attempt fails")
    outbox_backoff_base_seconds: float = Field(2.0, description="Base of the outbox's exponential retry delay")
    payments_stuck_after_seconds: int = Field(
        30, description="A charge/refund the gateway never saw, or an answer never delivered, is resent after this")
    payments_resubmit_interval_seconds: int = Field(
        30, description="How often the payment sweep (payment_app/resubmit.py) settles or resends what is stuck")
    idempotency_stale_after_seconds: int = Field(
        60, description="An Idempotency-Key claim in progress this long belongs to a dead request, "
                        "which may be taken over")
    gateway_answer_redeliver_after_seconds: int = Field(
        150, description="When an undelivered gateway answer is sent again")
    outbox_retention_days: int = Field(
        30, ge=1, description="Delivered outbox rows are deleted after this (dead and undelivered ones stay)")
    inbox_retention_days: int = Field(
        30, ge=1, description="Inbox dedupe records are deleted after this; keep it longer than a sender "
                              "retries (docs/retention.md)")
    gateway_record_retention_days: int = Field(
        90, ge=1, description="Answered mock gateway requests are deleted after this (unanswered ones stay)")
    webhook_attempt_retention_days: int = Field(
        30, ge=1, description="Integrator webhook attempt logs are deleted after this (deliveries stay)")
    integration_event_retention_days: int = Field(
        90, ge=1, description="Integrator events (GET /v1/admin/events, replay) are deleted after this: the "
                              "replay horizon; an event with a delivery still pending stays")
    refresh_token_retention_days: int = Field(
        7, ge=1, description="Refresh token rows (rotation and reuse detection) are deleted this long after "
                             "they expire")
    retention_batch_rows: int = Field(5000, ge=1, description="Rows one retention DELETE removes per transaction")
    retention_budget_seconds: int = Field(
        60, ge=1, description="A retention run stops after this and leaves the rest to the next run")
    retention_interval_seconds: int = Field(3600, ge=60, description="How often the retention job runs")
    status_wait_max_seconds: int = Field(
        10, ge=0, le=25, description="Longest `?wait=` a GET of a subscription may ask for (docs/api.md); "
                                     "0: no waiting")
    # Waits at once in a process ≈ payments/s × seconds to settle ÷ web workers: 30/s × 3 s ÷ 2 = 45; with 12
    # the rest polled on Retry-After and sank the payments bench (bench/README.md, issue #20).
    status_wait_slots: int = Field(
        64, ge=0, description="Requests of one web process that may wait (`?wait=`) at once, on threads of their "
                              "own; beyond, the answer comes at once with Retry-After")
    login_rate_limit_per_account: str = Field("10 per minute;50 per hour",
                                              description="Login attempts per account (flask-limiter syntax)")
    login_rate_limit_per_ip: str = Field("60 per minute",
                                         description="Login attempts per client IP (flask-limiter syntax)")
    log_format: str = Field("", description="`json` or `text`; empty: json in production, text elsewhere")
    metrics_token: str = Field("", description="When set, GET /metrics needs `Authorization: Bearer <token>`")
    trusted_proxies: int = Field(
        0, description="Proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted; "
                       "0: headers ignored (client IP is the socket's)")

    @field_validator("webhook_signing_secrets", "dunning_retry_days", mode="before")
    @classmethod
    def _split_commas(cls, value):
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("dunning_retry_days")
    @classmethod
    def _increasing_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v <= 0 for v in value) or list(value) != sorted(value):
            raise ValueError("must be increasing positive integers (days)")
        return value

    @field_validator("payment_service_url", "subscription_service_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("log_format")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def webhook_signing_secret(self) -> str:
        return self.webhook_signing_secrets[0]

    @property
    def usage_redis(self) -> str:
        return self.usage_redis_url or self.redis_url

    def with_overrides(self, **overrides) -> "Settings":
        unknown = set(overrides) - set(type(self).model_fields)
        if unknown:
            raise SettingsError(f"unknown settings: {sorted(unknown)}")
        return self.model_copy(update=overrides)

    def validate(self) -> "Settings":
        if self.gateway_min_delay_ms < 0 or self.gateway_max_delay_ms < self.gateway_min_delay_ms:
            raise SettingsError("GATEWAY_MIN_DELAY_MS must be >= 0 and <= GATEWAY_MAX_DELAY_MS")
        if not 0.0 <= self.gateway_success_rate <= 1.0:
            raise SettingsError("GATEWAY_SUCCESS_RATE must be between 0 and 1")
        if self.billing_batch_size < 1 or self.billing_job_budget_seconds < 0:
            raise SettingsError("BILLING_BATCH_SIZE must be >= 1 and BILLING_JOB_BUDGET_SECONDS >= 0")
        if self.log_format not in ("", "json", "text"):
            raise SettingsError("LOG_FORMAT must be json or text")
        if self.usage_sync_interval_seconds < 1 or self.usage_max_delta < 1:
            raise SettingsError("USAGE_SYNC_INTERVAL_SECONDS and USAGE_MAX_DELTA must be >= 1")
        if self.usage_entitlement_ttl_seconds < 1 or self.usage_counter_grace_days < 1:
            raise SettingsError("USAGE_ENTITLEMENT_TTL_SECONDS and USAGE_COUNTER_GRACE_DAYS must be >= 1")
        if self.usage_idempotency_ttl_seconds < 86400:
            raise SettingsError("USAGE_IDEMPOTENCY_TTL_SECONDS must be at least 86400 (24 h)")
        if self.trusted_proxies < 0:
            raise SettingsError("TRUSTED_PROXIES must be >= 0")
        if not self.webhook_signing_secrets:
            raise SettingsError("WEBHOOK_SIGNING_SECRET must not be empty")
        if self.is_production:
            self._refuse_unsafe_secrets()
        return self

    def _refuse_unsafe_secrets(self) -> None:
        defaults = {DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, DEV_SERVICE_SECRET, DEV_DASHBOARD_PASSWORD}
        checks = [("JWT_SECRET_KEY", self.jwt_secret_key),
                  ("SERVICE_TO_SERVICE_SECRET", self.service_to_service_secret),
                  *(("WEBHOOK_SIGNING_SECRET", s) for s in self.webhook_signing_secrets)]
        for name, value in checks:
            if value in defaults or "change-in-production" in value:
                raise SettingsError(f"{name} is a development default; set a real secret in production")
            if len(value) < MIN_SECRET_LENGTH:
                raise SettingsError(f"{name} must be at least {MIN_SECRET_LENGTH} characters in production")
        if self.jwt_secret_key == self.service_to_service_secret:
            raise SettingsError("JWT_SECRET_KEY and SERVICE_TO_SERVICE_SECRET must differ")
        if self.dashboard_password in defaults:
            raise SettingsError("RQ_DASHBOARD_PASSWORD is a development default; set one in production")


class ServerSettings(BaseSettings):
    """The processes around the app: gunicorn (gunicorn.conf.py) and the RQ dashboard's address."""
    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore", case_sensitive=False)

    web_concurrency: int = Field(0, description="gunicorn workers per web process; 0: 2 × CPU cores")
    gunicorn_worker_class: str = Field("gthread", description="gunicorn worker class")
    gunicorn_threads: int = Field(
        4, description="Requests one gthread worker runs at once; gunicorn starts STATUS_WAIT_SLOTS more "
                       "threads, for `?wait=` requests while they wait")
    gunicorn_timeout: int = Field(30, description="Seconds before gunicorn kills a silent worker")
    gunicorn_reuse_port: bool = Field(
        True, description="Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads "
                          "connections across workers (false: one shared socket)")
    gunicorn_max_requests: int = Field(0, description="Restart a worker after this many requests; 0: never")
    gunicorn_accesslog: str = Field("", description="gunicorn access log path (`-`: stdout); empty: none")
    forwarded_allow_ips: str = Field("127.0.0.1", description="Addresses gunicorn trusts for X-Forwarded-Proto")
    gunicorn_control_socket: str = Field("", description="Path of gunicorn's control socket; empty: none")
    prometheus_multiproc_dir: str = Field(
        "", description="Parent of each gunicorn master's metrics directory; empty: `.run/prometheus`")
    dashboard_host: str = Field("127.0.0.1", description="Address the RQ dashboard listens on")
    dashboard_port: int = Field(9181, description="Port of the RQ dashboard")


def env_name(field_name: str, model: type[BaseSettings] = Settings) -> str:
    alias = model.model_fields[field_name].validation_alias
    return alias.choices[0] if alias is not None else field_name.upper()


def env_names(model: type[BaseSettings] = Settings) -> dict[str, str]:
    """Field name -> environment variable, in declaration order."""
    return {name: env_name(name, model) for name in model.model_fields}


def server_env_names() -> dict[str, str]:
    return env_names(ServerSettings)


def _describe(exc: ValidationError, model: type[BaseSettings]) -> str:
    names = env_names(model)
    by_env = {name.upper(): env for name, env in names.items()} | {env: env for env in names.values()}
    problems = []
    for error in exc.errors():
        variable = by_env.get(str(error["loc"][0]).upper(), str(error["loc"][0]))
        shown = "" if any(w in variable.lower() for w in _SECRET_WORDS) else f", got {error.get('input')!r}"
        problems.append(f"{variable}: {error['msg']}{shown}")
    return "; ".join(problems)


def _load(model, sources):
    try:
        return model(**sources)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, model)) from None


def load_settings(**sources) -> Settings:
    """Read every setting from the environment (`_env_file=path` adds a dotenv file)."""
    return _load(Settings, sources)


def load_server_settings(**sources) -> ServerSettings:
    return _load(ServerSettings, sources)
