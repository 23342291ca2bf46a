"""Test helpers for the subscription side of billing.

PaymentStub stands in for the payment service's internal API on loopback (the real one
is another process); payment outcomes are driven by POSTing correctly signed events to
/v1/webhooks/payment, exactly as the payment service's outbox would.
"""
from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from core.extensions import db
from core.http import encode
from core.security import signature_headers
from subscription_app.models import SubscriptionOutbox
from subscription_app.seed import BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID, PRO_TRIAL_ID

__all__ = ["BASIC_MONTHLY_ID", "ENTERPRISE_MONTHLY_ID", "PRO_MONTHLY_ID", "PRO_TRIAL_ID"]
GOOD_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
BAD_CARD = {"number": "4242424242424241", "exp_month": 12, "exp_year": 2030, "cvc": "123"}  # fails Luhn
# Passes the shared card check; the stub's payment service refuses it (its errors must pass through).
REFUSED_CARD = {"number": "4000000000000002", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


class PaymentStub:
    """POST /v1/payments/internal/payment-methods per docs/service-contract.md."""

    def __init__(self, service_token: str):
        self.requests: list[dict] = []
        self.status_override: int | None = None
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code, answer = stub.answer(self.path, self.headers, body)
                payload = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.token = service_token
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path, headers, body):
        if self.status_override:
            return self.status_override, {"code": self.status_override, "message": "stub failure"}
        if headers.get("X-Service-Token") != self.token:
            return 403, {"code": 403, "message": "Service token required"}
        if path == "/v1/payments/internal/charges":
            return 202, {"transaction_id": str(uuid.uuid4()), "status": "pending"}
        if path != "/v1/payments/internal/payment-methods":
            return 404, {"code": 404, "message": "Not found"}
        card = body.get("card") or {}
        number = str(card.get("number", "")).replace(" ", "")
        if not number.isdigit() or not luhn_ok(number) or number == REFUSED_CARD["number"]:
            return 422, {"code": 422, "status": "Unprocessable Entity", "message": "Validation failed",
                         "errors": {"json": {"card": {"number": ["Invalid card number."]}}}}
        return 201, {"id": str(uuid.uuid4()), "user_id": body["user_id"], "brand": "visa", "last4": number[-4:],
                     "exp_month": card["exp_month"], "exp_year": card["exp_year"]}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def payment_stub(app):
    settings = app.config["SETTINGS"]
    stub = PaymentStub(settings.service_to_service_secret)
    app.config["SETTINGS"] = settings.with_overrides(payment_service_url=stub.url)
    yield stub
    app.config["SETTINGS"] = settings
    stub.close()


@pytest.fixture
def payment_down(app):
    """The payment service URL points at a closed port."""
    settings = app.config["SETTINGS"]
    stub = PaymentStub(settings.service_to_service_secret)
    url = stub.url
    stub.close()
    app.config["SETTINGS"] = settings.with_overrides(payment_service_url=url)
    yield
    app.config["SETTINGS"] = settings


def send_event(client, event_type: str | None, data: dict | None = None, event_id: str | None = None,
               secret: str | None = None, body: dict | None = None):
    """POST a signed event to /v1/webhooks/payment, as the payment service's outbox does."""
    settings = client.application.config["SETTINGS"]
    envelope = body if body is not None else {"event_id": event_id or str(uuid.uuid4()), "type": event_type,
                                              "created_at": "2026-11-26T00:00:00+00:00", "data": data or {}}
    raw = encode(envelope)
    headers = {"Content-Type": "application/json",
               **signature_headers(secret or settings.webhook_signing_secret, raw)}
    return client.post("/v1/webhooks/payment", data=raw, headers=headers)


def payment_data(invoice: dict, **overrides) -> dict:
    """payment.succeeded / payment.failed data that matches `invoice` (a JSON invoice)."""
    data = {"transaction_id": str(uuid.uuid4()), "user_id": None, "invoice_id": invoice["id"],
            "subscription_id": invoice["subscription_id"], "payment_method_id": None,
            "amount_cents": invoice["amount_due_cents"] - invoice["amount_paid_cents"],
            "currency": invoice["currency"]}
    data.update(overrides)
    return data


def pay(client, invoice: dict, user_id: int, **overrides):
    return send_event(client, "payment.succeeded", payment_data(invoice, user_id=user_id, **overrides))


def fail(client, invoice: dict, user_id: int, **overrides):
    return send_event(client, "payment.failed",
                      payment_data(invoice, user_id=user_id, failure_reason="card_declined", **overrides))


def charge_requests(app) -> list[dict]:
    """The charge.requested envelopes in the outbox, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(SubscriptionOutbox).where(SubscriptionOutbox.event_type == "charge.requested")
                                  .order_by(SubscriptionOutbox.created_at)).all()
        return [dict(r.payload, target=r.target) for r in rows]


def refund_requests(app) -> list[dict]:
    """The refund.requested envelopes in the outbox, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(SubscriptionOutbox).where(SubscriptionOutbox.event_type == "refund.requested")
                                  .order_by(SubscriptionOutbox.created_at)).all()
        return [dict(r.payload, target=r.target) for r in rows]


def advance(app, seconds: float) -> None:
    """Move the billing clock (core.clock) forward; JWTs and signatures keep real time."""
    from core import clock
    with app.app_context():
        clock.set_offset(clock.get_offset() + seconds)


def run_cycle() -> dict:
    """The periodic bill run, in the subscription app's context as the worker runs it."""
    from jobs.context import service_context
    from subscription_app.billing.cycle import run_billing_cycle

    with service_context("subscription"):
        return run_billing_cycle()


def subscribe_and_pay(client, headers, user_id: int, plan_id=PRO_MONTHLY_ID, card: bool = True) -> dict:
    """An active subscription; with card=True its payment method is saved for renewals."""
    body = {"plan_id": str(plan_id)}
    if card:
        body["card"] = GOOD_CARD
    sub = client.post("/v1/subscriptions", json=body, headers=headers).json
    assert pay(client, sub["latest_invoice"], user_id).json["processed"] is True
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=headers).json


def advance_to(app, moment, plus_seconds: float = 1) -> None:
    """Move the billing clock to just after `moment` (a datetime or an ISO string)."""
    from datetime import datetime

    from core import clock
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    with app.app_context():
        clock.set_offset(clock.get_offset() + (moment - clock.utcnow()).total_seconds() + plus_seconds)


def set_period(app, sub_id, start, end):
    """Move a subscription's current period (what proration and renewals read)."""
    from subscription_app.models import Subscription

    with app.app_context():
        sub = db.session.get(Subscription, uuid.UUID(sub_id))
        sub.current_period_start, sub.current_period_end = start, end
        db.session.commit()


def put_plan(client, h, sub, plan_id):
    """PUT /v1/subscriptions/<id>/plan."""
    return client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(plan_id)}, headers=h)


def add_plan(app, price_cents: int, interval: str = "year", count: int = 1) -> uuid.UUID:
    """A USD plan billed every `count` `interval`s, inserted directly (no API creates plans)."""
    from subscription_app.models import Plan

    plan_id = uuid.uuid4()
    with app.app_context():
        db.session.add(Plan(id=plan_id, code=f"test_{interval}{count}_{plan_id.hex[:8]}",
                            name=f"Test {count} {interval}", price_cents=price_cents, currency="USD",
                            billing_interval=interval, interval_count=count))
        db.session.commit()
    return plan_id


def get_subscription(client, h, sub) -> dict:
    return client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json


def when(value: str):
    """An ISO timestamp from a response, as a datetime."""
    from datetime import datetime

    return datetime.fromisoformat(value)
