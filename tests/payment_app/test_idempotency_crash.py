"""Idempotency-Key across a crash (issue #13, item 2): the stored answer commits with the money.

The database connection is killed (pg_terminate_backend, from another connection) right when the
answer is being stored, which is what a SIGKILLed worker or a cut network does at that instant.
Either both the charge (or refund) and the answer are gone and the retry runs once, or both
stayed and the retry replays: the gateway is asked once, and a 5xx never follows a commit.
"""
import pytest
from sqlalchemy import text

from core.extensions import db
from payment_app.models import Refund, Transaction
from tests.support.crashes import connection_killed_when_storing_the_answer
from tests.support.payment_fixtures import SUCCESS_CARD

pytestmark = pytest.mark.payment
ONE_OFF = {"amount_cents": 2900, "currency": "USD", "description": "crash test"}


def _count(app, model, **where):
    with app.app_context():
        return db.session.query(model).filter_by(**where).count()


def _retry_until_answered(pay, post):
    """What a client does: retry with its key; after 409 "in progress", wait out the stale time."""
    answer = post()
    if answer.status_code == 409:
        with pay.app.app_context():
            db.session.execute(text("UPDATE pay_idempotency_keys SET locked_at = now() - interval '1 hour'"))
            db.session.commit()
        answer = post()
    return answer


def test_a_charge_whose_answer_was_lost_in_a_crash_is_charged_once(pay, make_user):
    user, h = make_user()
    post = lambda: pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}, key="crash-charge")  # noqa: E731
    with connection_killed_when_storing_the_answer(pay.app) as fired:
        first = post()
    assert fired
    if first.status_code >= 500:  # nothing may have been committed behind a "try again"
        assert _count(pay.app, Transaction, user_id=user.id) == 0
    retried = _retry_until_answered(pay, post)
    assert retried.status_code == 202, retried.json
    again = post()
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == retried.json["id"]
    pay.drain()
    assert _count(pay.app, Transaction, user_id=user.id) == 1
    assert pay.gateway_count("charge") == 1


def test_a_partial_refund_whose_answer_was_lost_in_a_crash_is_paid_once(pay, make_user):
    user, h = make_user()
    txn = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}).json
    pay.drain()
    post = lambda: pay.client.post(f"/v1/payments/refund/{txn['id']}", json={"amount_cents": 1000},  # noqa: E731
                                   headers={**h, "Idempotency-Key": "crash-refund"})
    with connection_killed_when_storing_the_answer(pay.app) as fired:
        first = post()
    assert fired
    if first.status_code >= 500:
        assert _count(pay.app, Refund, user_id=user.id) == 0
    assert _retry_until_answered(pay, post).status_code == 202
    pay.drain()
    assert _count(pay.app, Refund, user_id=user.id) == 1
    assert pay.gateway_count("refund") == 1
    assert pay.transaction(h, txn["id"]).json["refunded_cents"] == 1000


def test_a_retry_after_the_answer_was_stored_replays_even_when_stale(pay, make_user):
    user, h = make_user()
    first = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}, key="stored")
    assert first.status_code == 202
    with pay.app.app_context():
        db.session.execute(text("UPDATE pay_idempotency_keys SET locked_at = now() - interval '1 hour'"))
        db.session.commit()
    replay = pay.process(h, {**ONE_OFF, "card": SUCCESS_CARD}, key="stored")
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json
    pay.drain()
    assert _count(pay.app, Transaction, user_id=user.id) == 1 and pay.gateway_count("charge") == 1
