"""Settings: environment names from the contract, refusal of unsafe production secrets."""
import pytest

from core.settings import DEV_WEBHOOK_SECRET, SettingsError, load_settings

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
