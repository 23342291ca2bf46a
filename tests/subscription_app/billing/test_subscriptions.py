"""Creating, reading, listing and canceling subscriptions; ownership; one live per user."""
import threading
import uuid
from datetime import datetime

import pytest
from sqlalchemy import event

from core.extensions import db
from subscription_app.models import Invoice, Plan, Subscription
from tests.support.billing_support import (BAD_CARD, BASIC_MONTHLY_ID, GOOD_CARD, PRO_MONTHLY_ID, PRO_TRIAL_ID,
                                           REFUSED_CARD, charge_requests, pay)

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def _create(client, headers, body=None, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/subscriptions", json=body or {"plan_id": str(PRO_MONTHLY_ID)},
                       headers={**headers, **extra})


def test_create_without_card_is_incomplete_with_an_open_invoice(client, seeded, make_user):
    user, h = make_user()
    r = _create(client, h)
    assert r.status_code == 201, r.json
    sub = r.json
    assert sub["status"] == "incomplete" and sub["plan_id"] == str(PRO_MONTHLY_ID)
    inv = sub["latest_invoice"]
    assert inv["status"] == "open" and inv["reason"] == "subscription_create"
    assert inv["amount_due_cents"] == 2900 and inv["currency"] == "USD" and inv["amount_paid_cents"] == 0
    assert [(line["kind"], line["amount_cents"]) for line in inv["lines"]] == [("plan", 2900)]
    assert inv["period_start"] == sub["current_period_start"] and inv["period_end"] == sub["current_period_end"]
    assert charge_requests(client.application) == []  # no card: the user pays via /v1/payments/process
    # Never reported active while unpaid.
    assert client.get("/v1/subscriptions/active", headers=h).status_code == 404


def test_create_with_card_tokenises_and_requests_the_charge(client, seeded, make_user, payment_stub):
    user, h = make_user()
    r = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD})
    assert r.status_code == 201, r.json
    sub = r.json
    assert sub["status"] == "incomplete" and sub["payment_method_id"]
    [call] = payment_stub.requests
    assert call["path"] == "/v1/payments/internal/payment-methods"
    assert call["body"] == {"user_id": user.id, "card": GOOD_CARD}
    [charge] = charge_requests(client.application)
    assert charge["target"] == "payment_charges" and charge["type"] == "charge.requested"
    inv = sub["latest_invoice"]
    assert charge["data"] == {
        "idempotency_key": f"{inv['id']}:1", "user_id": user.id, "invoice_id": inv["id"],
        "subscription_id": sub["id"], "payment_method_id": sub["payment_method_id"], "amount_cents": 2900,
        "currency": "USD", "kind": "charge", "description": "Pro subscription"}
    # The card number is not stored anywhere on this side.
    with client.application.app_context():
        assert "4242424242424242" not in str(db.session.execute(db.text("SELECT * FROM sub_outbox_events")).all())
    assert pay(client, inv, user.id).json["processed"] is True
    active = client.get("/v1/subscriptions/active", headers=h)
    assert active.status_code == 200 and active.json["id"] == sub["id"] and active.json["status"] == "active"
    assert active.json["latest_invoice"]["status"] == "paid"


def test_create_reads_the_price_once_and_no_discount_or_credit_notes_it_cannot_have(client, seeded, make_user,
                                                                                     payment_stub):
    """The first subscription's POST is on the path a customer waits for (issue #20): no row is read twice."""
    _, h = make_user()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        r = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD})
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert r.status_code == 201, r.json
    assert r.json["discount"] is None and r.json["latest_invoice"]["credit_notes"] == []
    assert r.json["latest_invoice"]["amount_due_cents"] == 2900
    reads = [s.split("FROM", 1)[1].split()[0] for s in statements if s.lstrip().startswith("SELECT") and "FROM" in s]
    assert reads.count("plan_prices") == 1, reads
    assert reads.count("discounts") == 1, reads  # the invoice's own check; the answer does not ask again
    assert "credit_notes" not in reads, reads
    with client.application.app_context():
        sub = db.session.get(Subscription, uuid.UUID(r.json["id"]))
        assert sub.price_id is not None  # the version it pays was still recorded
    shown = client.get(f"/v1/subscriptions/{r.json['id']}", headers=h).json
    assert shown["discount"] is None and shown["latest_invoice"]["credit_notes"] == []
    assert shown["latest_invoice"]["id"] == r.json["latest_invoice"]["id"]


def test_bad_card_is_refused_before_the_payment_service_and_leaves_nothing(client, seeded, make_user,
                                                                          payment_stub):
    _, h = make_user()
    r = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": BAD_CARD})
    assert r.status_code == 422
    assert r.json["errors"] == {"json": {"card": {"number": ["Card number is invalid (checksum)."]}}}
    assert payment_stub.requests == []
    with client.application.app_context():
        assert db.session.query(Subscription).count() == 0 and db.session.query(Invoice).count() == 0


def test_refused_card_passes_the_field_errors_through_and_leaves_nothing(client, seeded, make_user, payment_stub):
    _, h = make_user()
    r = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": REFUSED_CARD})
    assert r.status_code == 422
    assert r.json["errors"] == {"json": {"card": {"number": ["Invalid card number."]}}}
    with client.application.app_context():
        assert db.session.query(Subscription).count() == 0 and db.session.query(Invoice).count() == 0


def test_payment_service_down_is_503_and_leaves_nothing(client, seeded, make_user, payment_down):
    _, h = make_user()
    r = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD})
    assert r.status_code == 503 and r.json["code"] == 503 and "Retry-After" in r.headers
    with client.application.app_context():
        assert db.session.query(Subscription).count() == 0


def test_payment_service_error_is_503(client, seeded, make_user, payment_stub):
    _, h = make_user()
    payment_stub.status_override = 500
    assert _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD}).status_code == 503


def test_unknown_inactive_and_trial_plans_are_refused(client, seeded, make_user):
    _, h = make_user()
    assert _create(client, h, {"plan_id": str(uuid.uuid4())}).status_code == 404
    assert _create(client, h, {"plan_id": str(PRO_TRIAL_ID)}).status_code == 422
    with client.application.app_context():
        db.session.get(Plan, BASIC_MONTHLY_ID).is_active = False
        db.session.commit()
    assert _create(client, h, {"plan_id": str(BASIC_MONTHLY_ID)}).status_code == 422
    with client.application.app_context():
        assert db.session.query(Subscription).count() == 0


@pytest.mark.security
@pytest.mark.parametrize("extra", [{"status": "active"}, {"amount_cents": 1}, {"user_id": 1},
                                   {"amount_due_cents": 0}, {"currency": "EUR"}])
def test_mass_assignment_is_422(client, seeded, make_user, extra):
    _, h = make_user()
    r = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), **extra})
    assert r.status_code == 422 and list(r.json["errors"]["json"]) == list(extra)


def test_card_and_payment_method_together_are_422(client, seeded, make_user):
    _, h = make_user()
    r = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD, "payment_method_id": str(uuid.uuid4())})
    assert r.status_code == 422


def test_second_live_subscription_is_409(client, seeded, make_user):
    _, h = make_user()
    assert _create(client, h).status_code == 201
    r = _create(client, h, {"plan_id": str(BASIC_MONTHLY_ID)})
    assert r.status_code == 409


def test_parallel_creates_give_one_subscription_and_409s(app, seeded, make_user):
    user, h = make_user()
    results, barrier = [], threading.Barrier(4)

    def go():
        c = app.test_client()
        barrier.wait()
        results.append(_create(c, h).status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409, 409, 409]
    with app.app_context():
        assert db.session.query(Subscription).filter_by(user_id=user.id).count() == 1
        assert db.session.query(Invoice).filter_by(user_id=user.id).count() == 1


def test_idempotency_key_replays_and_refuses_another_body(client, seeded, make_user, payment_stub):
    _, h = make_user()
    body = {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD}
    first = _create(client, h, body, key="sub-1")
    again = _create(client, h, body, key="sub-1")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert len(payment_stub.requests) == 1 and len(charge_requests(client.application)) == 1
    other = _create(client, h, {"plan_id": str(BASIC_MONTHLY_ID)}, key="sub-1")
    assert other.status_code == 422


def test_get_history_and_invoices(client, seeded, make_user):
    user, h = make_user()
    sub = _create(client, h).json
    got = client.get(f"/v1/subscriptions/{sub['id']}", headers=h)
    assert got.status_code == 200 and got.json["id"] == sub["id"]
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=h).status_code == 200
    second = _create(client, h, {"plan_id": str(BASIC_MONTHLY_ID)}).json
    page = client.get("/v1/subscriptions?per_page=1", headers=h).json
    assert page["meta"] == {"page": 1, "per_page": 1, "total": 2, "pages": 2}
    assert page["items"][0]["id"] == second["id"]
    invoices = client.get("/v1/invoices", headers=h).json
    assert invoices["meta"]["total"] == 2 and [i["status"] for i in invoices["items"]] == ["open", "void"]
    one = client.get(f"/v1/invoices/{second['latest_invoice']['id']}", headers=h).json
    assert one["lines"][0]["amount_cents"] == 900
    assert invoices["items"][0] == one  # the list carries each invoice's lines, as GET of one does
    assert [[line["amount_cents"] for line in i["lines"]] for i in invoices["items"]] == [[900], [2900]]


@pytest.mark.security
def test_another_users_subscription_and_invoice_are_404(client, seeded, make_user):
    _, a = make_user()
    _, b = make_user()
    sub = _create(client, a).json
    inv = sub["latest_invoice"]["id"]
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=b).status_code == 404
    assert client.get(f"/v1/invoices/{inv}", headers=b).status_code == 404
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=b).status_code == 404
    assert client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(BASIC_MONTHLY_ID)},
                      headers=b).status_code == 404
    assert client.get("/v1/invoices", headers=b).json["meta"]["total"] == 0
    assert client.get("/v1/subscriptions", headers=b).json["meta"]["total"] == 0
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=a).status_code == 200


def test_endpoints_need_a_token(client, seeded):
    assert client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}).status_code == 401
    assert client.get("/v1/subscriptions/active").status_code == 401
    assert client.get("/v1/invoices").status_code == 401


def test_cancel_immediately_voids_open_invoices_and_twice_is_409(client, seeded, make_user):
    _, h = make_user()
    sub = _create(client, h).json
    r = client.delete(f"/v1/subscriptions/{sub['id']}", headers=h)
    assert r.status_code == 200
    assert r.json["status"] == "canceled" and r.json["ended_at"] and r.json["canceled_at"]
    assert r.json["latest_invoice"]["status"] == "void"
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=h).status_code == 409
    assert client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h).status_code == 409


def test_cancel_at_period_end_keeps_it_live(client, seeded, make_user):
    user, h = make_user()
    sub = _create(client, h).json
    # An unpaid subscription can only be canceled outright.
    assert client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h).status_code == 409
    pay(client, sub["latest_invoice"], user.id)
    r = client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h)
    assert r.status_code == 200 and r.json["status"] == "active" and r.json["cancel_at_period_end"] is True
    assert r.json["ended_at"] is None
    assert client.get("/v1/subscriptions/active", headers=h).json["id"] == sub["id"]
    assert client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h).status_code == 409
    assert client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=bogus", headers=h).status_code == 422


@pytest.mark.parametrize("query", ["?at_period_end=false", ""])
def test_ending_now_a_subscription_set_to_cancel_at_period_end_is_409(client, seeded, make_user, query):
    """It would give up the rest of a paid period with no refund: the answer says what to do instead."""
    user, h = make_user()
    sub = _create(client, h).json
    pay(client, sub["latest_invoice"], user.id)
    scheduled = client.delete(f"/v1/subscriptions/{sub['id']}?at_period_end=true", headers=h).json
    r = client.delete(f"/v1/subscriptions/{sub['id']}{query}", headers=h)
    assert r.status_code == 409
    end = scheduled["current_period_end"]
    assert r.json["current_period_end"] == end and f"on {end}" in r.json["message"]
    assert "resume it first" in r.json["message"]
    assert r.json["errors"] == {"query": {"at_period_end": ["Already canceling at the period end."]}}
    after = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json
    assert (after["status"], after["cancel_at_period_end"], after["ended_at"]) == ("active", True, None)


def test_internal_invoice_and_user_summary(client, seeded, make_user, service_headers):
    user, h = make_user()
    sub = _create(client, h).json
    inv = sub["latest_invoice"]
    r = client.get(f"/v1/subscriptions/internal/invoices/{inv['id']}", headers=service_headers)
    assert r.status_code == 200
    assert r.json == {"id": inv["id"], "user_id": user.id, "subscription_id": sub["id"], "status": "open",
                      "amount_due_cents": 2900, "amount_paid_cents": 0, "currency": "USD",
                      "refund_can_end_subscription": True}
    assert client.get(f"/v1/subscriptions/internal/invoices/{uuid.uuid4()}",
                      headers=service_headers).status_code == 404
    assert client.get(f"/v1/subscriptions/internal/invoices/{inv['id']}", headers=h).status_code == 403
    summary = client.get(f"/v1/subscriptions/internal/user/{user.id}", headers=service_headers).json
    assert summary["subscription"]["id"] == sub["id"] and summary["subscription"]["status"] == "incomplete"
    assert summary["subscription"]["is_active"] is False
    # The billing cycle anchor, where the paid cycle started (the day renewals fall on), as in the public response.
    assert summary["subscription"]["billing_cycle_anchor"] is not None
    assert datetime.fromisoformat(summary["subscription"]["billing_cycle_anchor"]) == \
        datetime.fromisoformat(sub["billing_cycle_anchor"])


def test_charge_request_is_delivered_signed_to_the_payment_service(client, seeded, make_user, payment_stub,
                                                                   redis_conn):
    """The outbox row reaches POST /v1/payments/internal/charges through a real RQ worker."""
    import json

    from rq import SimpleWorker

    from core.security import verify_signature
    from core.queues import QUEUE_NAMES, get_queue
    user, h = make_user()
    sub = _create(client, h, {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD}).json
    with client.application.app_context():
        SimpleWorker([get_queue(n) for n in QUEUE_NAMES], connection=redis_conn).work(burst=True)
    [sent] = [r for r in payment_stub.requests if r["path"] == "/v1/payments/internal/charges"]
    envelope = sent["body"]
    assert envelope["type"] == "charge.requested" and envelope["data"]["invoice_id"] == sub["latest_invoice"]["id"]
    headers = sent["headers"]
    assert headers["X-Service-Token"] == client.application.config["SETTINGS"].service_to_service_secret
    assert headers["X-Event-ID"] == envelope["event_id"]
    raw = json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
    verify_signature(client.application.config["SETTINGS"].webhook_signing_secrets, raw,
                     headers["X-Webhook-Signature"], headers["X-Webhook-Timestamp"], 300)
