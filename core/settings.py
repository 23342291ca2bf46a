"""Typed settings read from the environment.

Variable names follow the public contract (the seed README). Development defaults
work out of the box; in production (APP_ENV=production) a default or short secret
stops the app at start with a message naming the variable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

DEV_JWT_SECRET = "dev-jwt-secret-change-in-production-32-chars-minimum"
DEV_WEBHOOK_SECRET = "dev-webhook-secret-change-in-production-32-chars-minimum"
DEV_SERVICE_SECRET = "dev-service-secret-change-in-production-32-chars-min"
DEV_DASHBOARD_PASSWORD = "dev-dashboard-password"
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """A setting is missing or unsafe; the message names the variable."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


def _list(name: str, default: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _env(name, default).split(",") if part.strip())


def _int_list(name: str, default: str) -> tuple[int, ...]:
    parts = _list(name, default)
    try:
        values = tuple(int(p) for p in parts)
    except ValueError as exc:
        raise SettingsError(f"{name} must be comma separated integers, got {_env(name, default)!r}") from exc
    if any(v <= 0 for v in values) or list(values) != sorted(values):
        raise SettingsError(f"{name} must be increasing positive integers (days), got {values}")
    return values


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/billing"
    redis_url: str = "redis://127.0.0.1:6379/0"
    usage_redis_url: str = ""
    usage_redis_cluster: bool = False
    # Usage metering (subscription_app/usage): sync cadence, delta bound, cache and key lifetimes.
    usage_sync_interval_seconds: int = 10
    usage_max_delta: int = 10000
    usage_entitlement_ttl_seconds: int = 30
    usage_idempotency_ttl_seconds: int = 86400
    usage_counter_grace_days: int = 7
    payment_service_url: str = "http://127.0.0.1:8002"
    subscription_service_url: str = "http://127.0.0.1:8001"

    jwt_secret_key: str = DEV_JWT_SECRET
    jwt_algorithm: str = "HS256"
    jwt_access_token_expire_minutes: int = 60
    jwt_refresh_token_expire_days: int = 30
    jwt_audience: str = "billing-api"
    # How long Redis caches a user's token version; it also bounds how long a user row changed
    # or deleted behind the app's back (plain SQL) keeps its tokens working.
    token_version_cache_seconds: int = 300

    # Several secrets may be given, comma separated: the first signs, all verify.
    webhook_signing_secrets: tuple[str, ...] = (DEV_WEBHOOK_SECRET,)
    webhook_tolerance_seconds: int = 300
    service_to_service_secret: str = DEV_SERVICE_SECRET

    payment_gateway_success_card: str = "4242424242424242"
    gateway_success_rate: float = 0.8
    gateway_min_delay_ms: int = 1000
    gateway_max_delay_ms: int = 3000

    # Billing cycle: how often the periodic job looks for due periods, the dunning retry
    # schedule (days after the failed renewal), and how long an unpaid subscription waits.
    billing_cycle_seconds: int = 60
    # Rows locked and committed together; the periodic job stops after its budget and enqueues the rest.
    billing_batch_size: int = 100
    billing_job_budget_seconds: int = 240
    dunning_retry_days: tuple[int, ...] = (1, 3, 5)
    incomplete_expiry_hours: int = 23

    bcrypt_rounds: int = 12
    max_content_length: int = 64 * 1024
    dashboard_username: str = "admin"
    dashboard_password: str = DEV_DASHBOARD_PASSWORD
    log_level: str = "INFO"
    outbox_backoff_base_seconds: float = 2.0
    # A pending charge/refund the gateway never saw, or a gateway answer never delivered, is sent
    # again after these many seconds (every resend is idempotent; these only bound the delay).
    payments_stuck_after_seconds: int = 30
    payments_resubmit_interval_seconds: int = 30  # how often jobs.payments.resubmit_stuck runs
    # An Idempotency-Key claim in progress this long belongs to a dead request and may be taken over.
    idempotency_stale_after_seconds: int = 60
    gateway_answer_redeliver_after_seconds: int = 150
    login_rate_limit_per_account: str = "10 per minute;50 per hour"
    login_rate_limit_per_ip: str = "60 per minute"
    log_format: str = ""  # json | text; empty: json in production, text elsewhere
    metrics_token: str = ""  # when set, GET /metrics needs "Authorization: Bearer <token>"
    extra: dict = field(default_factory=dict)

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
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise SettingsError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **overrides)

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


def load_settings() -> Settings:
    """Read every setting from the environment (seed variable names)."""
    d = Settings()
    return Settings(
        app_env=_env("APP_ENV", d.app_env),
        database_url=_env("DATABASE_URL", d.database_url),
        redis_url=_env("REDIS_URL", d.redis_url),
        usage_redis_url=_env("USAGE_REDIS_URL", ""),
        usage_redis_cluster=_bool("USAGE_REDIS_CLUSTER", False),
        usage_sync_interval_seconds=_int("USAGE_SYNC_INTERVAL_SECONDS", d.usage_sync_interval_seconds),
        usage_max_delta=_int("USAGE_MAX_DELTA", d.usage_max_delta),
        usage_entitlement_ttl_seconds=_int("USAGE_ENTITLEMENT_TTL_SECONDS", d.usage_entitlement_ttl_seconds),
        usage_idempotency_ttl_seconds=_int("USAGE_IDEMPOTENCY_TTL_SECONDS", d.usage_idempotency_ttl_seconds),
        usage_counter_grace_days=_int("USAGE_COUNTER_GRACE_DAYS", d.usage_counter_grace_days),
        payment_service_url=_env("PAYMENT_SERVICE_URL", d.payment_service_url).rstrip("/"),
        subscription_service_url=_env("SUBSCRIPTION_SERVICE_URL", d.subscription_service_url).rstrip("/"),
        jwt_secret_key=_env("JWT_SECRET_KEY", d.jwt_secret_key),
        jwt_algorithm=_env("JWT_ALGORITHM", d.jwt_algorithm),
        jwt_access_token_expire_minutes=_int("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", d.jwt_access_token_expire_minutes),
        jwt_refresh_token_expire_days=_int("JWT_REFRESH_TOKEN_EXPIRE_DAYS", d.jwt_refresh_token_expire_days),
        jwt_audience=_env("JWT_AUDIENCE", d.jwt_audience),
        token_version_cache_seconds=_int("TOKEN_VERSION_CACHE_SECONDS", d.token_version_cache_seconds),
        webhook_signing_secrets=_list("WEBHOOK_SIGNING_SECRET", DEV_WEBHOOK_SECRET),
        webhook_tolerance_seconds=_int("WEBHOOK_TOLERANCE_SECONDS", d.webhook_tolerance_seconds),
        service_to_service_secret=_env("SERVICE_TO_SERVICE_SECRET", d.service_to_service_secret),
        payment_gateway_success_card=_env("PAYMENT_GATEWAY_SUCCESS_CARD", d.payment_gateway_success_card),
        gateway_success_rate=_float("GATEWAY_SUCCESS_RATE", d.gateway_success_rate),
        gateway_min_delay_ms=_int("GATEWAY_MIN_DELAY_MS", d.gateway_min_delay_ms),
        gateway_max_delay_ms=_int("GATEWAY_MAX_DELAY_MS", d.gateway_max_delay_ms),
        billing_cycle_seconds=_int("BILLING_CYCLE_SECONDS", d.billing_cycle_seconds),
        billing_batch_size=_int("BILLING_BATCH_SIZE", d.billing_batch_size),
        billing_job_budget_seconds=_int("BILLING_JOB_BUDGET_SECONDS", d.billing_job_budget_seconds),
        dunning_retry_days=_int_list("DUNNING_RETRY_DAYS", "1,3,5"),
        incomplete_expiry_hours=_int("INCOMPLETE_EXPIRY_HOURS", d.incomplete_expiry_hours),
        bcrypt_rounds=_int("BCRYPT_ROUNDS", d.bcrypt_rounds),
        max_content_length=_int("MAX_CONTENT_LENGTH", d.max_content_length),
        dashboard_username=_env("RQ_DASHBOARD_USERNAME", d.dashboard_username),
        dashboard_password=_env("RQ_DASHBOARD_PASSWORD", d.dashboard_password),
        log_level=_env("LOG_LEVEL", d.log_level),
        payments_stuck_after_seconds=_int("PAYMENTS_STUCK_AFTER_SECONDS", d.payments_stuck_after_seconds),
        payments_resubmit_interval_seconds=_int("PAYMENTS_RESUBMIT_INTERVAL_SECONDS",
                                                d.payments_resubmit_interval_seconds),
        idempotency_stale_after_seconds=_int("IDEMPOTENCY_STALE_AFTER_SECONDS", d.idempotency_stale_after_seconds),
        gateway_answer_redeliver_after_seconds=_int("GATEWAY_ANSWER_REDELIVER_AFTER_SECONDS",
                                                    d.gateway_answer_redeliver_after_seconds),
        outbox_backoff_base_seconds=_float("OUTBOX_BACKOFF_BASE_SECONDS", d.outbox_backoff_base_seconds),
        login_rate_limit_per_account=_env("LOGIN_RATE_LIMIT_PER_ACCOUNT", d.login_rate_limit_per_account),
        login_rate_limit_per_ip=_env("LOGIN_RATE_LIMIT_PER_IP", d.login_rate_limit_per_ip),
        log_format=_env("LOG_FORMAT", "").lower(),
        metrics_token=_env("METRICS_TOKEN", ""),
    )
