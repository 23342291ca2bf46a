"""Structured logs: one JSON line per request, security events, the request id carried into jobs."""
import json
import logging

import pytest
from rq import SimpleWorker
from rq.job import Job

from core.logging import current_request_id, resolve_format
from core.queues import DEFAULT, enqueue_after_commit, get_queue


def report_request_id(tag):
    """A job: log a line and return the request id it sees (module level, so RQ can import it)."""
    logging.getLogger("tests.job").info("job ran %s", tag)
    return current_request_id()


def enqueue_child(tag):
    """A job that enqueues another job, as a payment job enqueues a webhook delivery."""
    return enqueue_after_commit(DEFAULT, report_request_id, tag).id


def test_request_line_has_method_path_status_latency_user_and_request_id(client, make_user, json_logs):
    user, headers = make_user()
    r = client.get("/v1/auth/me", headers={**headers, "X-Request-ID": "req-abc-123"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "req-abc-123"
    [line] = [p for p in json_logs("billing.request") if p["path"] == "/v1/auth/me"]
    assert line["method"] == "GET" and line["status"] == 200 and line["level"] == "INFO"
    assert isinstance(line["latency_ms"], (int, float)) and line["latency_ms"] >= 0
    assert line["user_id"] == str(user.id)
    assert line["request_id"] == "req-abc-123"
    assert line["service"] == "subscription-service" and line["endpoint"] == "/v1/auth/me"
    assert "ts" in line and line["process"] == "web"


def test_no_user_id_on_a_route_that_does_not_verify_the_token(client, make_user, json_logs):
    _, headers = make_user()
    assert client.get("/v1/plans", headers=headers).status_code == 200
    [line] = json_logs("billing.request")
    assert line["user_id"] is None  # an unverified token's subject is never trusted


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eDp5"}])
def test_absent_or_invalid_token_logs_no_user_and_never_fails(client, json_logs, headers):
    assert client.get("/v1/plans", headers=headers).status_code == 200
    [line] = json_logs("billing.request")
    assert line["user_id"] is None and len(line["request_id"]) == 32  # generated


@pytest.mark.security
def test_401_and_403_are_security_warnings(client, make_user, service_headers, json_logs):
    _, headers = make_user()
    assert client.get("/v1/auth/me").status_code == 401
    assert client.get("/v1/subscriptions/internal/user/1", headers={"X-Service-Token": "wrong"}).status_code == 403
    events = {p["event"]: p for p in json_logs("billing.security")}
    assert events["unauthorized"]["level"] == "WARNING" and events["unauthorized"]["status"] == 401
    assert events["forbidden"]["path"] == "/v1/subscriptions/internal/user/1"
    assert events["service_token_refused"]["level"] == "WARNING"


@pytest.mark.security
def test_failed_login_is_a_structured_warning(client, make_user, json_logs):
    make_user(email="someone@example.com")
    r = client.post("/v1/auth/login", json={"email": "someone@example.com", "password": "wrong-password"},
                    headers={"X-Request-ID": "login-1"})
    assert r.status_code == 401
    [event] = [p for p in json_logs("billing.security") if p["event"] == "login_failed"]
    assert event["level"] == "WARNING" and event["email"] == "someone@example.com"
    assert event["request_id"] == "login-1"
    assert "wrong-password" not in json.dumps(json_logs())


@pytest.mark.security
def test_bad_webhook_signature_is_a_structured_warning(app, json_logs):
    from core.errors import ApiError
    from core.security import verify_request_signature

    with app.test_request_context("/v1/webhooks/payment", method="POST", data=b"{}",
                                  headers={"X-Webhook-Signature": "sha256=00", "X-Webhook-Timestamp": "1"}):
        with pytest.raises(ApiError) as refused:
            verify_request_signature()
    assert refused.value.code == 401
    [event] = json_logs("billing.security")
    assert event["event"] == "webhook_signature_invalid" and event["level"] == "WARNING"
    assert event["path"] == "/v1/webhooks/payment" and "tolerance" in event["reason"]


def test_request_id_is_carried_into_the_job_and_its_logs(app, redis_conn, json_logs):
    with app.test_request_context("/v1/anything", headers={"X-Request-ID": "pay-42"}):
        app.preprocess_request()
        assert current_request_id() == "pay-42"
        job = enqueue_after_commit(DEFAULT, report_request_id, "first")
    assert job.meta["request_id"] == "pay-42"
    SimpleWorker([get_queue(DEFAULT, redis_conn)], connection=redis_conn).work(burst=True)
    job.refresh()
    assert job.return_value() == "pay-42"
    [line] = json_logs("tests.job")
    assert line["request_id"] == "pay-42" and line["message"] == "job ran first"
    assert line["job_id"] == job.id


def test_a_job_enqueued_by_a_job_keeps_the_request_id(app, redis_conn):
    with app.test_request_context("/", headers={"X-Request-ID": "chain-7"}):
        app.preprocess_request()
        first = enqueue_after_commit(DEFAULT, enqueue_child, "second")
    assert first.meta["request_id"] == "chain-7"
    SimpleWorker([get_queue(DEFAULT, redis_conn)], connection=redis_conn).work(burst=True)
    second = Job.fetch(first.return_value(), connection=redis_conn)
    assert second.meta["request_id"] == "chain-7" and second.return_value() == "chain-7"


def test_outside_a_request_or_job_there_is_no_request_id(app):
    assert current_request_id() is None
    with app.app_context():
        job = enqueue_after_commit(DEFAULT, report_request_id, "cli")
        assert current_request_id() is None
    assert "request_id" not in job.meta


def test_probes_and_scrapes_log_at_debug(client, json_logs):
    client.get("/v1/health")
    client.get("/metrics")
    assert json_logs("billing.request") == []  # INFO and up only
    logging.getLogger().setLevel("DEBUG")
    try:
        client.get("/v1/health")
        [line] = json_logs("billing.request")
        assert line["level"] == "DEBUG"
    finally:
        logging.getLogger().setLevel("INFO")


def test_bind_request_id_wins_inside_its_block(app):
    from core.logging import bind_request_id

    with app.test_request_context("/", headers={"X-Request-ID": "outer"}):
        app.preprocess_request()
        with bind_request_id("from-outbox-row"):
            assert current_request_id() == "from-outbox-row"
            job = enqueue_after_commit(DEFAULT, report_request_id, "y")
        assert current_request_id() == "outer"
    assert job.meta["request_id"] == "from-outbox-row"


def test_caller_meta_is_kept(app):
    with app.test_request_context("/", headers={"X-Request-ID": "m-1"}):
        app.preprocess_request()
        job = enqueue_after_commit(DEFAULT, report_request_id, "x", meta={"invoice": "inv-1"}, job_timeout=30)
    assert job.meta == {"invoice": "inv-1", "request_id": "m-1", "service": "subscription-service"}
    assert job.timeout == 30


def test_log_format_defaults(settings):
    assert resolve_format(settings) == "text"
    assert resolve_format(settings.with_overrides(app_env="production")) == "json"
    assert resolve_format(settings.with_overrides(app_env="production", log_format="text")) == "text"
    from core.settings import SettingsError
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        settings.with_overrides(log_format="xml").validate()
