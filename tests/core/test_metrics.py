"""GET /metrics: request metrics by URL rule, queue depths at scrape time, the business-metric API."""
import uuid

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry
from prometheus_client.parser import text_string_to_metric_families
from rq import SimpleWorker

from core import metrics
from core.queues import DEFAULT, PAYMENTS, enqueue_after_commit, get_queue
from tests.conftest import make_settings
from tests.support.metrics import scrape, value
from tests.support.redis_commands import CommandLog


def always_fails():
    raise RuntimeError("boom")


def noop():
    return None


def test_requests_counted_by_url_rule_never_raw_path(client, make_user):
    _, headers = make_user()
    plan_id = uuid.uuid4()
    client.get(f"/v1/plans/{plan_id}")
    client.get(f"/v1/plans/{uuid.uuid4()}")
    client.get("/v1/auth/me", headers=headers)
    client.get("/no/such/path/12345")
    samples = scrape(client)
    text = str(samples)
    assert str(plan_id) not in text and "12345" not in text
    count = value(samples, "billing_http_requests_total", service="subscription-service", method="GET",
                  endpoint="/v1/plans/<uuid:plan_id>", status="404")
    assert count is not None and count >= 2
    assert value(samples, "billing_http_requests_total", service="subscription-service", method="GET",
                 endpoint="/v1/auth/me", status="200") >= 1
    assert value(samples, "billing_http_requests_total", service="subscription-service", method="GET",
                 endpoint="<unmatched>", status="404") >= 1
    assert value(samples, "billing_http_request_duration_seconds_count", service="subscription-service",
                 method="GET", endpoint="/v1/auth/me", status="200") >= 1


def test_payment_service_has_metrics_too(payment_client):
    payment_client.get("/v1/health")
    samples = scrape(payment_client)
    assert value(samples, "billing_http_requests_total", service="payment-service", method="GET",
                 endpoint="/v1/health", status="200") >= 1


def test_queue_depth_and_failed_count_read_at_scrape_time(app, client, redis_conn):
    enqueue_after_commit(DEFAULT, always_fails)
    SimpleWorker([get_queue(DEFAULT, redis_conn)], connection=redis_conn).work(burst=True)
    enqueue_after_commit(PAYMENTS, noop)
    enqueue_after_commit(PAYMENTS, noop)
    samples = scrape(client)
    assert value(samples, "billing_metrics_redis_up") == 1
    assert value(samples, "billing_queue_depth", queue="payments") == 2
    assert value(samples, "billing_queue_depth", queue="default") == 0
    assert value(samples, "billing_queue_failed_jobs", queue="default") == 1
    assert value(samples, "billing_queue_failed_jobs", queue="webhooks") == 0


BUSINESS = ("billing_payments_total", "billing_webhook_deliveries_total", "billing_usage_sync_runs_total",
            "billing_usage_sync_keys", "billing_queue_depth", "billing_queue_failed_jobs", "billing_queue_workers")


def _business(samples) -> dict:
    return {key: v for key, v in samples.items() if key[0] in BUSINESS}


def test_business_metric_api(app, client, payment_app, payment_client):
    with payment_app.app_context():
        metrics.payment_outcome("succeeded")
        metrics.payment_outcome("succeeded")
        metrics.payment_outcome("failed")
        metrics.webhook_delivery("payment.succeeded", "delivered")
        metrics.webhook_delivery("payment.succeeded", "failed")
        metrics.webhook_delivery("payment.succeeded", "failed")
    metrics.webhook_delivery("invoice.paid", "delivered")  # the subscription service's own outbox
    metrics.usage_sync(lag_seconds=12.5, keys=3)
    metrics.usage_sync(lag_seconds=4, keys=7)
    pay = scrape(payment_client)
    assert value(pay, "billing_payments_total", outcome="succeeded") == 2
    assert value(pay, "billing_payments_total", outcome="failed") == 1
    assert value(pay, "billing_webhook_deliveries_total", event_type="payment.succeeded", outcome="failed") == 2
    assert value(pay, "billing_webhook_deliveries_total", event_type="payment.succeeded", outcome="delivered") == 1
    sub = scrape(client)
    assert value(sub, "billing_webhook_deliveries_total", event_type="invoice.paid", outcome="delivered") == 1
    assert value(sub, "billing_usage_sync_lag_seconds") == 4
    assert value(sub, "billing_usage_sync_keys") == 7
    assert value(sub, "billing_usage_sync_runs_total") == 2
    assert value(sub, "billing_usage_sync_last_run_timestamp_seconds") > 0


def test_each_business_series_comes_from_one_service_only(app, client, payment_app, payment_client):
    """A Prometheus sum() over both targets counts every event once."""
    with payment_app.app_context():
        metrics.payment_outcome("succeeded")
        metrics.webhook_delivery("payment.succeeded", "delivered")
    metrics.webhook_delivery("invoice.paid", "delivered")
    metrics.usage_sync(lag_seconds=1, keys=1)
    enqueue_after_commit(PAYMENTS, noop)
    sub, pay = _business(scrape(client)), _business(scrape(payment_client))
    assert sub and pay
    assert not set(sub) & set(pay), set(sub) & set(pay)
    assert value(pay, "billing_payments_total", outcome="succeeded") == 1
    assert value(sub, "billing_queue_depth", queue="payments") == 1


def test_process_and_platform_collectors(client, redis_conn, tmp_path, monkeypatch):
    assert value(scrape(client), "process_resident_memory_bytes") > 0
    # Under gunicorn (multiprocess mode) they describe the worker answering the scrape.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = {s.name: s for f in text_string_to_metric_families(metrics.exposition(redis_conn).decode())
               for s in f.samples}
    assert samples["process_resident_memory_bytes"].value > 0
    assert samples["python_info"].value == 1


def test_hostile_label_values_collapse_to_other(app, payment_client, redis_conn):
    metrics.payment_outcome('x"} 1\nevil_metric 666')
    metrics.payment_outcome("A" * 500)
    samples = scrape(payment_client)
    assert value(samples, "billing_payments_total", outcome="other") == 2
    assert not any(name == "evil_metric" for name, _ in samples)


def test_label_values_per_metric_are_capped(app, redis_conn):
    for i in range(metrics.MAX_FIELDS + 5):
        metrics.payment_outcome(f"outcome_{i}")
    assert redis_conn.hlen(metrics.PAYMENTS_KEY) == metrics.MAX_FIELDS + 1  # the cap, plus "other"
    assert int(redis_conn.hget(metrics.PAYMENTS_KEY, "other")) == 5


def test_business_counter_is_one_round_trip_adding_exactly_one(app, redis_conn, settings, monkeypatch):
    logged = CommandLog.from_url(settings.redis_url)
    monkeypatch.setitem(app.extensions, "redis", logged)
    metrics.payment_outcome("succeeded")  # the first call may also load the script into this server
    logged.sent.clear()
    for n in range(2, 5):
        metrics.payment_outcome("succeeded")
        metrics.webhook_delivery("payment.succeeded", "delivered")
        assert int(redis_conn.hget(metrics.PAYMENTS_KEY, "succeeded")) == n
        assert int(redis_conn.hget(metrics.webhooks_key("subscription-service"),
                                   "payment.succeeded|delivered")) == n - 1
    assert logged.sent == ["EVALSHA"] * 6
    logged.close()


def test_label_cap_boundary_and_known_labels_of_a_full_hash(app, redis_conn):
    redis_conn.hset(metrics.PAYMENTS_KEY, mapping={f"outcome_{i}": 1 for i in range(metrics.MAX_FIELDS - 1)})
    metrics.payment_outcome("last_place")  # field MAX_FIELDS: still its own
    metrics.payment_outcome("one_too_many")
    metrics.payment_outcome("one_too_many")
    metrics.payment_outcome("outcome_7")  # already there: counted under its own name
    counts = {k.decode(): int(v) for k, v in redis_conn.hgetall(metrics.PAYMENTS_KEY).items()}
    assert len(counts) == metrics.MAX_FIELDS + 1
    assert counts["last_place"] == 1 and counts["other"] == 2 and counts["outcome_7"] == 2
    assert "one_too_many" not in counts


def _redis_down():
    return redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def test_metric_calls_never_raise_and_back_off_when_redis_is_down(app, redis_conn, monkeypatch):
    real = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "redis", _redis_down())
    monkeypatch.setitem(metrics._breaker, "open_until", 0.0)
    metrics.payment_outcome("succeeded")
    assert metrics._breaker["open_until"] > 0  # the breaker opened: the next calls skip Redis
    metrics.webhook_delivery("x", "y")
    metrics.usage_sync(1, 1)
    monkeypatch.setitem(app.extensions, "redis", real)
    metrics.payment_outcome("succeeded")
    assert redis_conn.hget(metrics.PAYMENTS_KEY, "succeeded") is None  # dropped while open
    metrics._breaker["open_until"] = 0.0
    metrics.payment_outcome("succeeded")
    assert int(redis_conn.hget(metrics.PAYMENTS_KEY, "succeeded")) == 1


def test_metrics_without_app_context_is_a_no_op():
    metrics.payment_outcome("succeeded")  # no app, no Redis: dropped, not raised


def test_scrape_answers_with_redis_down():
    body = metrics.exposition(_redis_down()).decode()
    assert "billing_metrics_redis_up 0.0" in body
    assert "billing_queue_depth" not in body


@pytest.mark.security
def test_metrics_token_when_set(_apps):
    from subscription_app import create_app

    app = create_app(make_settings(metrics_token="scrape-token-123"))
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert ok.status_code == 200 and b"billing_http_requests_total" in ok.data
