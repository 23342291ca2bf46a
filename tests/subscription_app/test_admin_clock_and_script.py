"""The admin clock endpoint, the billing periodic job entry, and scripts/test_webhook.py against a live server."""
import threading

import pytest
from werkzeug.serving import make_server

from jobs import schedule
from scripts import test_webhook
from subscription_app.billing.cycle import run_billing_cycle
from subscription_app.billing.periods import add_interval
from tests.support.webhook_sink import Sink

pytestmark = pytest.mark.subscription


def test_admin_can_move_the_clock(client, make_user):
    _, admin = make_user(role="admin")
    _, user = make_user()
    assert client.get("/v1/admin/clock", headers=user).status_code == 403
    assert client.post("/v1/admin/clock", json={"advance_seconds": 60}, headers=user).status_code == 403
    assert client.get("/v1/admin/clock").status_code == 401
    before = client.get("/v1/admin/clock", headers=admin).json
    assert before["offset_seconds"] == 0
    r = client.post("/v1/admin/clock", json={"advance_seconds": 31 * 86400}, headers=admin)
    assert r.status_code == 200 and r.json["offset_seconds"] == 31 * 86400
    assert client.post("/v1/admin/clock", json={"advance_seconds": "x"}, headers=admin).status_code == 422
    assert client.post("/v1/admin/clock", json={"advance_seconds": 1, "offset": 5},
                       headers=admin).status_code == 422


def test_the_clock_never_moves_backwards(app, client, make_user):
    _, admin = make_user(role="admin")
    client.post("/v1/admin/clock", json={"advance_seconds": 3600}, headers=admin)
    r = client.post("/v1/admin/clock", json={"advance_seconds": -60}, headers=admin)
    assert r.status_code == 422 and "only moves forward" in r.json["errors"]["json"]["advance_seconds"][0]
    assert client.get("/v1/admin/clock", headers=admin).json["offset_seconds"] == 3600  # unchanged
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["clock", "advance", "--days", "-1"])
    assert refused.exit_code == 2 and "--days" in refused.output
    assert client.get("/v1/admin/clock", headers=admin).json["offset_seconds"] == 3600
    assert runner.invoke(args=["clock", "reset"]).exit_code == 0  # the one explicit way back
    assert client.get("/v1/admin/clock", headers=admin).json["offset_seconds"] == 0


def test_admin_clock_does_not_exist_in_production(app, client, make_user):
    _, admin = make_user(role="admin")
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.with_overrides(app_env="production")
    try:
        assert client.get("/v1/admin/clock", headers=admin).status_code == 404
        assert client.post("/v1/admin/clock", json={"advance_seconds": 5}).status_code == 404
    finally:
        app.config["SETTINGS"] = settings


def test_billing_cycle_is_a_periodic_job():
    entry = next(j for j in schedule.PERIODIC_JOBS if j.job_id == "billing-cycle")
    assert entry.func is run_billing_cycle and entry.interval_seconds == 60


def test_month_arithmetic_clamps_to_month_end():
    from datetime import datetime, timezone
    jan31 = datetime(2027, 1, 31, 12, tzinfo=timezone.utc)
    assert add_interval(jan31, "month") == datetime(2027, 2, 28, 12, tzinfo=timezone.utc)
    assert add_interval(jan31, "year") == datetime(2028, 1, 31, 12, tzinfo=timezone.utc)
    assert add_interval(jan31, "week", 2) == datetime(2027, 2, 14, 12, tzinfo=timezone.utc)


@pytest.fixture
def live_subscription_service(app, monkeypatch):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SUBSCRIPTION_SERVICE_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", app.config["SETTINGS"].webhook_signing_secret)
    yield
    server.shutdown()


def test_script_subscription_and_invalid(live_subscription_service, capsys):
    assert test_webhook.main(["subscription", "--event-id", "test123"]) == 0
    assert '"processed":false' in capsys.readouterr().out.replace(" ", "")
    assert test_webhook.main(["invalid"]) == 0
    assert "refused" in capsys.readouterr().out


def test_script_gateway_is_signed(app, monkeypatch):
    sink = Sink()
    monkeypatch.setenv("PAYMENT_SERVICE_URL", sink.url)
    try:
        assert test_webhook.main(["gateway", "--transaction-id", "test-txn"]) == 0
        sink.status = 500
        assert test_webhook.main(["gateway", "--transaction-id", "test-txn"]) == 1
    finally:
        sink.close()
    import json
    sent = sink.requests[0]
    assert sent["path"] == "/v1/webhooks/gateway" and sent["headers"]["X-Webhook-Signature"].startswith("sha256=")
    assert json.loads(sent["body"])["data"]["transaction_id"] == "test-txn"


def test_script_reports_unreachable_service(monkeypatch):
    monkeypatch.setenv("SUBSCRIPTION_SERVICE_URL", "http://127.0.0.1:9")
    assert test_webhook.main(["subscription"]) == 2


def test_billing_cycle_cli(app):
    result = app.test_cli_runner().invoke(args=["billing-cycle"])
    assert result.exit_code == 0 and result.output.startswith("renewed or ended 0, dunning retries 0,")
