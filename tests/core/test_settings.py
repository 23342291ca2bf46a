"""Settings: environment names from the contract, refusal of unsafe production secrets."""
from pathlib import Path

import pytest

from core.settings import DEV_WEBHOOK_SECRET, SettingsError, env_names, load_settings, server_env_names
from scripts import settings_docs

REPO = Path(__file__).resolve().parents[2]

STRONG = "s" * 40


def test_development_defaults(monkeypatch):
    for name in ("WEBHOOK_SIGNING_SECRET", "APP_ENV", "GATEWAY_SUCCESS_RATE"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings().validate()
    assert s.webhook_signing_secret == DEV_WEBHOOK_SECRET
    assert s.gateway_success_rate == 0.8 and (s.gateway_min_delay_ms, s.gateway_max_delay_ms) == (1000, 3000)
    assert s.payment_gateway_success_card == "4242424242424242"


def test_env_names_of_the_contract(monkeypatch):
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "15")
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", "new-secret, old-secret")
    monkeypatch.setenv("WEBHOOK_TOLERANCE_SECONDS", "60")
    monkeypatch.setenv("PAYMENT_SERVICE_URL", "http://pay:8000/")
    s = load_settings()
    assert s.jwt_access_token_expire_minutes == 15
    assert s.webhook_signing_secrets == ("new-secret", "old-secret")
    assert s.webhook_tolerance_seconds == 60
    assert s.payment_service_url == "http://pay:8000"


def test_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("WEBHOOK_TOLERANCE_SECONDS", "soon")
    with pytest.raises(SettingsError, match="WEBHOOK_TOLERANCE_SECONDS"):
        load_settings()


def _production(monkeypatch, **env):
    monkeypatch.setenv("APP_ENV", "production")
    values = {"JWT_SECRET_KEY": STRONG + "j", "WEBHOOK_SIGNING_SECRET": STRONG + "w",
              "SERVICE_TO_SERVICE_SECRET": STRONG + "s", "RQ_DASHBOARD_PASSWORD": "a-real-password"}
    values.update(env)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_production_with_real_secrets_starts(monkeypatch):
    assert _production(monkeypatch).validate().is_production


@pytest.mark.parametrize("name,value", [
    ("JWT_SECRET_KEY", "dev-jwt-secret-change-in-production-32-chars-minimum"),
    ("WEBHOOK_SIGNING_SECRET", DEV_WEBHOOK_SECRET),
    ("SERVICE_TO_SERVICE_SECRET", "short"),
    ("WEBHOOK_SIGNING_SECRET", STRONG + "," + "tooshort"),
])
def test_production_refuses_default_or_short_secrets(monkeypatch, name, value):
    with pytest.raises(SettingsError, match=name):
        _production(monkeypatch, **{name: value}).validate()


def test_production_app_refuses_to_start(monkeypatch):
    from subscription_app import create_app
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError):
        create_app()


# Every variable of today's contract, with its development default: names and defaults are public.
CONTRACT_DEFAULTS = {
    "APP_ENV": "development",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/billing",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "USAGE_REDIS_URL": "",
    "USAGE_REDIS_CLUSTER": False,
    "USAGE_SYNC_INTERVAL_SECONDS": 10,
    "USAGE_MAX_DELTA": 10000,
    "USAGE_ENTITLEMENT_TTL_SECONDS": 30,
    "USAGE_IDEMPOTENCY_TTL_SECONDS": 86400,
    "USAGE_COUNTER_GRACE_DAYS": 7,
    "PAYMENT_SERVICE_URL": "http://127.0.0.1:8002",
    "SUBSCRIPTION_SERVICE_URL": "http://127.0.0.1:8001",
    "JWT_SECRET_KEY": "dev-jwt-secret-change-in-production-32-chars-minimum",
    "JWT_ALGORITHM": "HS256",
    "JWT_ACCESS_TOKEN_EXPIRE_MINUTES": 60,
    "JWT_REFRESH_TOKEN_EXPIRE_DAYS": 30,
    "JWT_AUDIENCE": "billing-api",
    "TOKEN_VERSION_CACHE_SECONDS": 300,
    "WEBHOOK_SIGNING_SECRET": ("dev-webhook-secret-change-in-production-32-chars-minimum",),
    "WEBHOOK_TOLERANCE_SECONDS": 300,
    "SERVICE_TO_SERVICE_SECRET": "dev-service-secret-change-in-production-32-chars-min",
    "PAYMENT_GATEWAY_SUCCESS_CARD": "4242424242424242",
    "GATEWAY_SUCCESS_RATE": 0.8,
    "GATEWAY_MIN_DELAY_MS": 1000,
    "GATEWAY_MAX_DELAY_MS": 3000,
    "BILLING_CYCLE_SECONDS": 60,
    "BILLING_BATCH_SIZE": 100,
    "BILLING_JOB_BUDGET_SECONDS": 240,
    "DUNNING_RETRY_DAYS": (1, 3, 5),
    "INCOMPLETE_EXPIRY_HOURS": 23,
    "TRIAL_WILL_END_DAYS": 3,
    "PAYMENTS_RESUBMIT_INTERVAL_SECONDS": 30,
    "OUTGOING_WEBHOOK_CONNECT_TIMEOUT_SECONDS": 2.0,
    "OUTGOING_WEBHOOK_READ_TIMEOUT_SECONDS": 5.0,
    "BCRYPT_ROUNDS": 12,
    "MAX_CONTENT_LENGTH": 65536,
    "RQ_DASHBOARD_USERNAME": "admin",
    "RQ_DASHBOARD_PASSWORD": "dev-dashboard-password",
    "LOG_LEVEL": "INFO",
    "PAYMENTS_STUCK_AFTER_SECONDS": 30,
    "IDEMPOTENCY_STALE_AFTER_SECONDS": 60,
    "OUTBOX_RETENTION_DAYS": 30,
    "INBOX_RETENTION_DAYS": 30,
    "GATEWAY_RECORD_RETENTION_DAYS": 90,
    "WEBHOOK_ATTEMPT_RETENTION_DAYS": 30,
    "INTEGRATION_EVENT_RETENTION_DAYS": 90,
    "REFRESH_TOKEN_RETENTION_DAYS": 7,
    "RETENTION_BATCH_ROWS": 5000,
    "RETENTION_BUDGET_SECONDS": 60,
    "RETENTION_INTERVAL_SECONDS": 3600,
    "STATUS_WAIT_MAX_SECONDS": 10,
    "STATUS_WAIT_SLOTS": 64,
    "GATEWAY_ANSWER_REDELIVER_AFTER_SECONDS": 150,
    "OUTBOX_BACKOFF_BASE_SECONDS": 2.0,
    "LOGIN_RATE_LIMIT_PER_ACCOUNT": "10 per minute;50 per hour",
    "LOGIN_RATE_LIMIT_PER_IP": "60 per minute",
    "LOG_FORMAT": "",
    "METRICS_TOKEN": "",
    "TRUSTED_PROXIES": 0,
}


def _clean_env(monkeypatch):
    for name in env_names().values():
        monkeypatch.delenv(name, raising=False)


def _by_env_name(settings) -> dict:
    return {env: getattr(settings, name) for name, env in env_names().items()}


def test_every_variable_keeps_its_contract_name_and_default(monkeypatch):
    _clean_env(monkeypatch)
    assert _by_env_name(load_settings()) == CONTRACT_DEFAULTS


def test_empty_variable_means_its_default(monkeypatch):
    monkeypatch.setenv("JWT_ALGORITHM", "")
    monkeypatch.setenv("BCRYPT_ROUNDS", "")
    s = load_settings()
    assert (s.jwt_algorithm, s.bcrypt_rounds) == ("HS256", 12)


@pytest.mark.parametrize("name,value", [("USAGE_REDIS_CLUSTER", "maybe"), ("GATEWAY_SUCCESS_RATE", "most"),
                                        ("DUNNING_RETRY_DAYS", "3,1"), ("TRUSTED_PROXIES", "two")])
def test_bad_value_names_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_with_overrides_copies_and_refuses_unknown_names():
    base = load_settings()
    changed = base.with_overrides(bcrypt_rounds=4, webhook_signing_secrets=("a" * 40,))
    assert (changed.bcrypt_rounds, changed.webhook_signing_secret) == (4, "a" * 40)
    assert base.bcrypt_rounds != 4 or base.webhook_signing_secret != "a" * 40
    with pytest.raises(SettingsError, match="bcrypt_round"):
        base.with_overrides(bcrypt_round=4)


def test_trusted_proxies_must_not_be_negative(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "-1")
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings().validate()


def test_generated_configuration_docs_are_current():
    assert (REPO / "docs" / "configuration.md").read_text() == settings_docs.markdown(), \
        "docs/configuration.md is stale: run python -m scripts.settings_docs"
    assert (REPO / ".env.example").read_text() == settings_docs.env_example(), \
        ".env.example is stale: run python -m scripts.settings_docs"


def test_env_example_lists_every_variable_with_its_default(monkeypatch):
    _clean_env(monkeypatch)
    lines = (REPO / ".env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    assert sorted(names) == sorted([*env_names().values(), *server_env_names().values()])
    assert _by_env_name(load_settings(_env_file=REPO / ".env.example")) == CONTRACT_DEFAULTS


def test_a_dotenv_file_is_read_by_the_flask_cli(monkeypatch, tmp_path):
    from flask.cli import load_dotenv
    monkeypatch.setenv("JWT_AUDIENCE", "restored-after-the-test")
    monkeypatch.delenv("JWT_AUDIENCE")
    (tmp_path / ".env").write_text("JWT_AUDIENCE=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert load_dotenv() is True  # False when python-dotenv is missing
    assert load_settings().jwt_audience == "from-dotenv"
