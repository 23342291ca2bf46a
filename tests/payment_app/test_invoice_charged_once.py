"""One invoice, at most one live charge: a second /process never reaches the gateway (issue #13, item 1).

The race the issue measured: a second request passes the "not paid yet" check, the first charge
is made and settles before the second inserts its own, so a pending-only unique index no longer
sees it. The card vault (the outside world) holds the second request here until the first charge
has settled (or been refunded), which opens that window every time.
"""
import threading
import uuid

import pytest
from sqlalchemy import text

from core.extensions import db
from payment_app import gateway
from payment_app.models import Transaction
from tests.support.payment_fixtures import SUCCESS_CARD

pytestmark = pytest.mark.payment


def _hold_the_card_vault(monkeypatch, thread_name):
    """gateway.tokenise waits until released in the thread of that name; returns (entered, release)."""
    entered, release, original = threading.Event(), threading.Event(), gateway.tokenise

    def slow_tokenise(card):
        if threading.current_thread().name != thread_name:
            return original(card)
        entered.set()
        assert release.wait(15), "the test never released the card vault"
        return original(card)

    monkeypatch.setattr(gateway, "tokenise", slow_tokenise)
    return entered, release


def _refund_in_full(pay, headers, txn_id, operator):
    """An invoice payment is refunded by an operator (docs/refunds.md), here with the service token."""
    assert pay.client.post(f"/v1/payments/refund/{txn_id}", json={}, headers=operator).status_code == 202
    pay.drain()
    assert pay.transaction(headers, txn_id).json["status"] == "refunded"


@pytest.mark.parametrize("first_becomes", ["succeeded", "refunded"])
def test_a_second_payment_racing_the_first_one_settling_is_409_and_never_charged(
        pay, make_user, monkeypatch, service_headers, first_becomes):
    user, h = make_user()
    invoice_id = pay.invoice(user.id, amount_due_cents=2900)  # stays open: the event has not arrived yet
    entered, release = _hold_the_card_vault(monkeypatch, "second")
    answers = []
    second = threading.Thread(name="second", target=lambda: answers.append(
        pay.app.test_client().post("/v1/payments/process", headers=h,
                                   json={"invoice_id": invoice_id, "card": SUCCESS_CARD})))
    second.start()
    try:
        assert entered.wait(10)  # the second request found the invoice unpaid and is tokenising its card
        first = pay.process(h, {"invoice_id": invoice_id, "card": SUCCESS_CARD})
        assert first.status_code == 202, first.json
        pay.drain()
        assert pay.transaction(h, first.json["id"]).json["status"] == "succeeded"
        if first_becomes == "refunded":
            _refund_in_full(pay, h, first.json["id"], service_headers)
    finally:
        release.set()
        second.join(15)
    [answer] = answers
    assert answer.status_code == 409, answer.json
    assert answer.json["code"] == 409 and "already paid" in answer.json["message"]
    pay.drain()
    with pay.app.app_context():
        assert db.session.query(Transaction).filter_by(invoice_id=uuid.UUID(invoice_id)).count() == 1
    assert pay.gateway_count("charge") == 1


def test_eight_threads_at_a_barrier_charge_one_invoice_once(pay, make_user):
    user, h = make_user()
    invoice_id = pay.invoice(user.id, amount_due_cents=2900)
    barrier, codes = threading.Barrier(8), []

    def go():
        client = pay.app.test_client()
        barrier.wait(10)
        codes.append(client.post("/v1/payments/process", headers=h,
                                 json={"invoice_id": invoice_id, "card": SUCCESS_CARD}).status_code)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [202] + [409] * 7
    pay.drain()
    assert pay.gateway_count("charge") == 1


def test_the_database_refuses_a_second_succeeded_charge_of_an_invoice(pay, make_user):
    """The guarantee holds below the code too: no path can store two paid charges of one invoice."""
    user, h = make_user()
    invoice_id = pay.invoice(user.id, amount_due_cents=2900)
    first = pay.process(h, {"invoice_id": invoice_id, "card": SUCCESS_CARD}).json
    pay.drain()
    with pay.app.app_context():
        with pytest.raises(Exception, match="uq_transactions_one_live_charge_per_invoice"):
            db.session.execute(text(
                "INSERT INTO transactions (id, user_id, kind, status, amount_cents, currency, invoice_id) "
                "VALUES (:id, :user, 'charge', 'succeeded', 2900, 'USD', :invoice)"),
                {"id": uuid.uuid4(), "user": user.id, "invoice": invoice_id})
        db.session.rollback()
    assert pay.transaction(h, first["id"]).json["status"] == "succeeded"
