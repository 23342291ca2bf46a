"""Hostile request bodies get a 4xx in the one error shape, never a 500 (issues #12 and #13).

One test per root cause: a NUL character in a string, JSON nested too deep, an integer with
too many digits, an integer beyond PostgreSQL's bigint, and the internal charge contract.
"""
import uuid

import pytest

from core.security import signature_headers
from tests.support.billing_support import send_event

pytestmark = pytest.mark.security
NUL = "a\u0000b"
DEEP = "[" * 1000 + "]" * 1000


def _field_error(r, *path):
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.json["code"] == 422 and r.json["message"]
    errors = r.json["errors"]["json"]
    for name in path:
        assert name in errors, (path, r.json["errors"])
        errors = errors[name]
    return " ".join(errors)


@pytest.mark.parametrize("body, field", [
    ({"email": "nul@example.com", "password": "correct-horse-1", "first_name": NUL}, "first_name"),
    ({"email": "nul@example.com", "password": "correct-horse-1", "last_name": NUL}, "last_name"),
])
def test_nul_in_register_names_the_field_and_creates_no_user(client, body, field):
    assert "NUL" in _field_error(client.post("/v1/auth/register", json=body), field)
    login = client.post("/v1/auth/login", json={"email": "nul@example.com", "password": "correct-horse-1"})
    assert login.status_code == 401


def test_nul_in_login_email_is_422_without_a_token(client):
    r = client.post("/v1/auth/login", json={"email": "x" + NUL + "@example.com", "password": "whatever-1"})
    assert "NUL" in _field_error(r, "email")


def test_nul_in_payment_description_and_refund_reason(payment_client, app, make_user):
    _, headers = make_user()
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    r = payment_client.post("/v1/payments/process", headers=headers,
                            json={"amount_cents": 500, "currency": "USD", "description": NUL, "card": card})
    assert "NUL" in _field_error(r, "description")
    r = payment_client.post(f"/v1/payments/refund/{uuid.uuid4()}", headers=headers, json={"reason": NUL})
    assert "NUL" in _field_error(r, "reason")


def test_nul_in_a_nested_field_names_its_path(payment_client, make_user):
    _, headers = make_user()
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": NUL}
    r = payment_client.post("/v1/payments/process", headers=headers,
                            json={"amount_cents": 500, "currency": "USD", "card": card})
    assert "NUL" in _field_error(r, "card", "cvc")


def test_nul_in_a_signed_webhook_envelope_is_4xx(client, app):
    r = send_event(client, "payment.succeeded", body={"event_id": NUL, "type": "payment.succeeded", "data": {}})
    assert r.status_code == 422 and "event_id" in r.json["errors"]["json"]
    r = send_event(client, "payment.failed", {"transaction_id": str(uuid.uuid4()), "user_id": 1,
                                              "invoice_id": str(uuid.uuid4()), "amount_cents": 1,
                                              "currency": "USD", "failure_reason": NUL})
    assert "NUL" in _field_error(r, "data", "failure_reason")


# No token is needed on login; the payment service's internal routes check the service token first.
ROUTES = {"client": "/v1/auth/login", "payment_client": "/v1/payments/internal/charges"}


@pytest.mark.parametrize("which", ["client", "payment_client"])
def test_json_nested_too_deep_is_400(request, which, service_headers):
    c = request.getfixturevalue(which)
    r = c.post(ROUTES[which], data=DEEP, content_type="application/json", headers=service_headers)
    assert r.status_code == 400 and r.json["code"] == 400
    assert "nested" in r.json["message"]


def test_deep_json_in_a_signed_webhook_is_400(client):
    raw = DEEP.encode()
    r = client.post("/v1/webhooks/payment", data=raw, headers={
        "Content-Type": "application/json", **signature_headers(client.application.config["SETTINGS"]
                                                                .webhook_signing_secret, raw)})
    assert r.status_code == 400 and "nested" in r.json["message"]


@pytest.mark.parametrize("which", ["client", "payment_client"])
def test_integer_with_thousands_of_digits_is_400(request, which, service_headers):
    c = request.getfixturevalue(which)
    r = c.post(ROUTES[which], data='{"email": ' + "9" * 5000 + "}", content_type="application/json",
               headers=service_headers)
    assert r.status_code == 400 and r.json["code"] == 400
    assert "digits" in r.json["message"] and "sys." not in r.json["message"]


def test_integer_beyond_bigint_names_the_field(payment_client, make_user, service_headers):
    _, headers = make_user()
    card = {"number": "4242424242424242", "exp_month": 10**30, "exp_year": 2099, "cvc": "123"}
    r = payment_client.post("/v1/payments/process", headers=headers,
                            json={"amount_cents": 500, "currency": "USD", "card": card})
    assert r.status_code == 422 and "exp_month" in r.json["errors"]["json"]["card"]


def test_signed_webhook_with_user_id_beyond_bigint_is_422(client, app):
    data = {"transaction_id": str(uuid.uuid4()), "user_id": 2**70, "invoice_id": str(uuid.uuid4()),
            "subscription_id": None, "payment_method_id": None, "amount_cents": 100, "currency": "USD"}
    r = send_event(client, "payment.succeeded", data)
    assert _field_error(r, "data", "user_id")


def test_verification_without_a_subscription_is_refused(payment_client, service_headers):
    envelope = {"event_id": str(uuid.uuid4()), "type": "charge.requested", "created_at": "2026-11-26T04:00:00Z",
                "data": {"idempotency_key": "verify:x", "user_id": 7, "invoice_id": None, "subscription_id": None,
                         "payment_method_id": str(uuid.uuid4()), "amount_cents": 0, "currency": "USD",
                         "kind": "verify", "description": None}}
    r = payment_client.post("/v1/payments/internal/charges", json=envelope, headers=service_headers)
    assert _field_error(r, "data", "subscription_id")
    from payment_app.models import Transaction
    from core.extensions import db
    with payment_client.application.app_context():
        assert db.session.query(Transaction).count() == 0


def test_password_length_message_states_the_true_rule(client):
    for password in ("short", "x" * 73, "é" * 37):
        r = client.post("/v1/auth/register", json={"email": "pw@example.com", "password": password})
        assert _field_error(r, "password") == "Must be 8 to 72 bytes in UTF-8."


SCHEMA_MODULES = ["core.schemas", "subscription_app.schemas", "subscription_app.billing.schemas",
                  "subscription_app.billing.events", "subscription_app.usage.schemas", "payment_app.schemas"]


def test_every_integer_field_is_bounded_to_bigint():
    import importlib
    import inspect

    import marshmallow as ma

    from core.schemas import Integer
    plain = []
    for module in map(importlib.import_module, SCHEMA_MODULES):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ma.Schema) and cls.__module__ == module.__name__:
                plain += [f"{name}.{f}" for f, field in cls().fields.items()
                          if isinstance(field, ma.fields.Integer) and not isinstance(field, Integer)]
    assert not plain
