"""Fixtures for the payment service's tests: a live payment service on loopback (the mock gateway
POSTs its signed answers to it), a stand-in subscription service, a webhook sink, and a drain
helper that runs every queued job in-process until nothing is left.

The fixtures (`pay`, `_pay_servers`) are registered in tests/conftest.py: ask for them by name.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from werkzeug.serving import make_server

from core import outbox
from core.extensions import db
from core.http import encode
from core.queues import QUEUE_NAMES, get_queue
from core.security import signature_headers
from jobs.worker import BillingWorker
from payment_app import gateway
from payment_app.models import MockGatewayRequest, PaymentOutbox, Transaction
from payment_app.payments import submit_many
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.webhook_sink import Sink

SUCCESS_CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
DECLINE_CARD = {"number": "4000000000000002", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def drain(redis_conn, rounds: int = 20) -> None:
    """Run queued jobs with the shipped worker class until the queues are empty; due scheduled jobs are
    moved to their queues first (what RQ's scheduler does inside a real worker)."""
    queues = [get_queue(n, connection=redis_conn) for n in QUEUE_NAMES]
    for _ in range(rounds):
        for queue in queues:
            registry = ScheduledJobRegistry(queue=queue)
            for job_id in registry.get_jobs_to_schedule():
                queue.enqueue_job(Job.fetch(job_id, connection=redis_conn))
                registry.remove(job_id)
        if not any(q.count for q in queues):
            return
        BillingWorker(queues, connection=redis_conn).work(burst=True)
    raise AssertionError("queues did not drain")


class LiveServer:
    """A Flask app served by werkzeug on 127.0.0.1 in a thread."""

    def __init__(self, flask_app):
        self.server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()


TOKEN_VERSION_PATH = r"/v1/subscriptions/internal/user/\d+/token-version"


class _BackloggedServer(ThreadingHTTPServer):
    # A burst of token checks (one per parallel request on a cold cache) overflows the default
    # listen backlog of 5; gunicorn's is 2048.
    request_queue_size = 128


class StandInSubscriptionService:
    """Answers GET /v1/subscriptions/internal/invoices/<id> per docs/service-contract.md, and passes
    GET .../user/<id>/token-version (the payment service's token check) to the real subscription app."""

    def __init__(self, service_token: str, subscription_app=None):
        self.invoices: dict[str, dict] = {}
        self.calls: list[dict] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if subscription_app is not None and re.fullmatch(TOKEN_VERSION_PATH, self.path):
                    r = subscription_app.test_client().get(self.path, headers=dict(self.headers))
                    return self._send(r.status_code, r.json)
                stand_in.calls.append({"path": self.path, "headers": dict(self.headers)})
                match = re.fullmatch(r"/v1/subscriptions/internal/invoices/([0-9a-f-]+)", self.path)
                if self.headers.get("X-Service-Token") != service_token:
                    return self._send(403, {"message": "Service token required"})
                if match is None or match.group(1) not in stand_in.invoices:
                    return self._send(404, {"message": "Invoice not found"})
                return self._send(200, stand_in.invoices[match.group(1)])

            def _send(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = _BackloggedServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_invoice(self, invoice_id, user_id, *, amount_due_cents=2900, amount_paid_cents=0, status="open",
                    currency="USD", subscription_id=None, refund_can_end_subscription=True):
        """By default the current period's invoice of a live subscription, whose full refund ends it."""
        self.invoices[str(invoice_id)] = {
            "id": str(invoice_id), "user_id": user_id, "subscription_id": subscription_id, "status": status,
            "amount_due_cents": amount_due_cents, "amount_paid_cents": amount_paid_cents, "currency": currency,
            "refund_can_end_subscription": refund_can_end_subscription}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PayEnv:
    def __init__(self, app, client, redis_conn, sink, subs, monkeypatch):
        self.app, self.client, self.redis, self.sink, self.subs = app, client, redis_conn, sink, subs
        self._monkeypatch = monkeypatch
        self.approve(True)

    def approve(self, yes: bool = True) -> None:
        """The success card is approved (random draw below GATEWAY_SUCCESS_RATE) or not."""
        self._monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0 if yes else 0.999999)

    def drain(self) -> None:
        drain(self.redis)

    def events(self, event_type: str | None = None) -> list[dict]:
        bodies = [json.loads(r["body"]) for r in self.sink.requests]
        return [b for b in bodies if event_type is None or b["type"] == event_type]

    def process(self, headers, body, key=None):
        extra = {"Idempotency-Key": key} if key else {}
        return self.client.post("/v1/payments/process", json=body, headers={**headers, **extra})

    def invoice(self, user_id, amount_due_cents=5000, **kwargs) -> str:
        """An open invoice on the stand-in subscription service; returns its id."""
        invoice_id = str(uuid.uuid4())
        self.subs.add_invoice(invoice_id, user_id, amount_due_cents=amount_due_cents, **kwargs)
        return invoice_id

    def pay_invoice(self, user_id, headers, card, amount_due_cents=5000, key=None):
        return self.process(headers, {"invoice_id": self.invoice(user_id, amount_due_cents), "card": card}, key)

    def transaction(self, headers, txn_id):
        return self.client.get(f"/v1/payments/transactions/{txn_id}", headers=headers)

    def gateway_count(self, operation: str = "charge") -> int:
        with self.app.app_context():
            return db.session.query(MockGatewayRequest).filter_by(operation=operation).count()


@pytest.fixture(scope="session")
def _pay_servers(_apps):
    """Started once: the live payment service, the webhook sink, the stand-in subscription service."""
    payment_app = _apps["payment"]
    servers = (LiveServer(payment_app), Sink(),
               StandInSubscriptionService(payment_app.config["SETTINGS"].service_to_service_secret,
                                          _apps["subscription"]))
    yield servers
    for server in servers:
        server.close()


@pytest.fixture
def pay(app, payment_app, redis_conn, monkeypatch, _pay_servers):
    """Everything a payment test needs; `app` (the subscription app) cleans the tables afterwards."""
    settings = payment_app.config["SETTINGS"]
    server, sink, subs = _pay_servers
    sink.requests.clear()
    sink.status = 200
    subs.invoices.clear()
    subs.calls.clear()
    payment_app.config["SETTINGS"] = settings.with_overrides(payment_service_url=server.url,
                                                             subscription_service_url=subs.url,
                                                             gateway_success_rate=0.8)
    monkeypatch.setitem(outbox.config_for(PaymentOutbox).targets, "subscription_webhook",
                        lambda: sink.url + "/v1/webhooks/payment")
    monkeypatch.setitem(outbox.config_for(PaymentOutbox).batch_targets, "subscription_webhook",
                        lambda: sink.url + "/v1/webhooks/payment/batch")
    try:
        yield PayEnv(payment_app, payment_app.test_client(), redis_conn, sink, subs, monkeypatch)
    finally:
        payment_app.config["SETTINGS"] = settings


def gateway_event(txn_id, status="succeeded", event_id=None, operation="charge"):
    """The mock gateway's signed-webhook envelope for one transaction."""
    return {"event_id": event_id or f"evt_{uuid.uuid4().hex}", "type": f"{operation}.{status}",
            "created_at": "2026-11-26T04:00:00+00:00",
            "data": {"operation": operation, "status": status, "transaction_id": str(txn_id),
                     "gateway_id": "gw_test", "amount_cents": 700, "currency": "USD",
                     "failure_reason": None if status == "succeeded" else "card_declined"}}


def post_gateway_event(pay, envelope, *, secret=None, timestamp=None, headers=None, body=None):
    """POST /v1/webhooks/gateway, signed with the payment service's secret unless told otherwise."""
    raw = body if body is not None else encode(envelope)
    secret = secret or pay.app.config["SETTINGS"].webhook_signing_secret
    sig = signature_headers(secret, raw, timestamp) if headers is None else headers
    return pay.client.post("/v1/webhooks/gateway", data=raw,
                           headers={"Content-Type": "application/json", **sig})


SUCCESS_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def pending_charges(payment_app, payment_client, service_headers, count, amount=2900) -> list[str]:
    """`count` pending charges sent to the gateway (not answered yet); their gateway request ids."""
    r = payment_client.post("/v1/payments/internal/payment-methods", headers=service_headers,
                            json={"user_id": 7, "card": {"number": "4242424242424242", "exp_month": 12,
                                                         "exp_year": 2099, "cvc": "123"}})
    method = r.json["id"]
    events = [{"event_id": str(uuid.uuid4()), "type": "charge.requested", "created_at": "2026-12-01T00:00:00+00:00",
               "data": {"idempotency_key": f"{uuid.uuid4()}:1", "user_id": 7, "invoice_id": str(uuid.uuid4()),
                        "subscription_id": str(uuid.uuid4()), "payment_method_id": method, "amount_cents": amount,
                        "currency": "USD", "kind": "charge", "description": "Pro renewal"}} for _ in range(count)]
    r = payment_client.post("/v1/payments/internal/charges/batch", headers=service_headers, json={"events": events})
    with payment_app.app_context():
        txn_ids = [res["transaction_id"] for res in r.json["results"]]
        assert submit_many(txn_ids) == count
        return [db.session.get(Transaction, uuid.UUID(t)).gateway_reference for t in txn_ids]


def subscribers(client, redis_conn, count: int) -> list[tuple[dict, str]]:
    """`count` new users, each subscribed to Pro with the success card and paid: (auth headers, subscription id)."""
    subs = []
    for i in range(count):
        r = client.post("/v1/auth/register", json={"email": f"batch{i}@example.com", "password": "password123"})
        h = {"Authorization": f"Bearer {r.json['access_token']}"}
        r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": SUCCESS_CARD}, headers=h)
        assert r.status_code == 201, r.json
        subs.append((h, r.json["id"]))
    drain(redis_conn)
    return subs
