"""One payment followed by its request id through both services and the worker (docs/operations.md).

The subscription service's POST, the charge request it sends, the charge job, the gateway's delayed
answer, the gateway webhook, the payment result webhook and the activation each write a line with the
id the client sent, and no line of the flow carries another id."""
import contextvars

import pytest

from payment_app import gateway
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.payment_fixtures import drain

pytestmark = [pytest.mark.subscription, pytest.mark.payment]
RID = "trace-pay-1"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def _work_like_a_worker(redis_conn):
    """Drain the queues in an empty context: like a worker process, with no request or app context
    (pytest-flask keeps one open around the test, whose request id would leak into the jobs' lines)."""
    contextvars.Context().run(drain, redis_conn)


def _request(path):
    return lambda line: line["logger"] == "billing.request" and line["path"] == path


def _job(func):
    return lambda line: line["logger"] == "rq.worker" and f"{func}(" in line["message"]


STEPS = {
    "the POST": _request("/v1/subscriptions"),
    "the charge request": _request("/v1/payments/internal/charges"),
    "the charge job": _job("payment_app.payments.submit_to_gateway"),
    "the gateway answer": _job("payment_app.gateway.send_answer"),
    "the gateway webhook": _request("/v1/webhooks/gateway"),
    "the result webhook": _request("/v1/webhooks/payment"),
    "the activation": lambda line: line["logger"] == "subscription_app.billing.events" and "active" in line["message"],
}


def test_one_request_id_follows_a_payment_through_every_step(client, seeded, redis_conn, monkeypatch, json_logs):
    monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0)
    r = client.post("/v1/auth/register", json={"email": "trace@example.com", "password": "password123"})
    auth = {"Authorization": f"Bearer {r.json['access_token']}"}
    r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD},
                    headers={**auth, "X-Request-ID": RID})
    assert r.status_code == 201 and r.headers["X-Request-ID"] == RID
    _work_like_a_worker(redis_conn)
    assert client.get(f"/v1/subscriptions/{r.json['id']}", headers=auth).json["status"] == "active"

    lines = json_logs()
    for step, matches in STEPS.items():
        found = [line for line in lines if matches(line)]
        assert found, f"no log line for {step}"
        assert {line["request_id"] for line in found} == {RID}, f"{step}: {found}"
    # Registering and reading the subscription back are other requests, with ids of their own.
    theirs = {line["request_id"] for line in lines if _request("/v1/auth/register")(line)
              or _request(f"/v1/subscriptions/{r.json['id']}")(line)}
    strays = [line for line in lines if line["request_id"] not in {None, RID} | theirs]
    assert strays == []


def test_worker_lines_about_a_job_carry_its_id_and_the_service_that_enqueued_it(client, seeded, redis_conn,
                                                                                monkeypatch, json_logs):
    monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0)
    r = client.post("/v1/auth/register", json={"email": "trace2@example.com", "password": "password123"})
    client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD},
                headers={"Authorization": f"Bearer {r.json['access_token']}", "X-Request-ID": RID})
    _work_like_a_worker(redis_conn)
    lines = json_logs()
    [job_id] = {line["job_id"] for line in lines if _job("payment_app.payments.submit_to_gateway")(line) and line["job_id"]}
    about_it = [line for line in lines if line["job_id"] == job_id]
    assert {line["logger"] for line in about_it} >= {"rq.worker", "payment_app.payments"}
    assert {(line["request_id"], line["service"]) for line in about_it} == {(RID, "payment-service")}
