"""core.queues.enqueue_after_commit: the one way to enqueue, its commit rule and its Redis-down policy."""
import logging
import uuid

import pytest
import redis as redis_lib

from core.extensions import db
from core.queues import DEFAULT, PAYMENTS, enqueue_after_commit, get_queue
from payment_app.resubmit import resubmit_stuck
from payment_app.models import MockGatewayRequest, Transaction
from subscription_app.models import User
from tests.support.payment_fixtures import drain

JOB = "tests.core.test_logging.report_request_id"


def _in_request(app, request_id="q-1"):
    ctx = app.test_request_context("/", headers={"X-Request-ID": request_id})
    ctx.push()
    app.preprocess_request()
    return ctx


def test_inside_a_transaction_the_job_waits_for_the_commit_and_carries_request_id_and_service(app, payment_app):
    ctx = _in_request(payment_app)
    try:
        db.session.execute(db.text("SELECT 1"))  # a transaction is open
        assert enqueue_after_commit(PAYMENTS, JOB, "a") is None
        assert get_queue(PAYMENTS).count == 0
        db.session.commit()
        [job] = get_queue(PAYMENTS).jobs
    finally:
        ctx.pop()
    assert job.meta == {"request_id": "q-1", "service": "payment-service"} and job.args == ("a",)


def test_a_rolled_back_transaction_or_savepoint_enqueues_nothing(app):
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))
        enqueue_after_commit(DEFAULT, JOB, "rolled back")
        db.session.rollback()
        with pytest.raises(ValueError), db.session.begin_nested():
            enqueue_after_commit(DEFAULT, JOB, "savepoint")
            raise ValueError
        enqueue_after_commit(DEFAULT, JOB, "kept")
        db.session.commit()
        assert [job.args for job in get_queue(DEFAULT).jobs] == [("kept",)]


def test_outside_a_transaction_it_is_enqueued_at_once_with_a_delay_if_asked(app):
    with app.app_context():
        job = enqueue_after_commit(DEFAULT, JOB, "now")
        later = enqueue_after_commit(DEFAULT, JOB, "later", delay=30)
        assert [j.id for j in get_queue(DEFAULT).jobs] == [job.id]
        assert later.get_status() == "scheduled"


def test_redis_down_at_commit_is_a_warning_and_the_commit_stands(app, caplog):
    live = app.extensions["redis"]
    with app.app_context():
        db.session.add(User(email="kept@example.com", password_hash="x"))
        enqueue_after_commit(DEFAULT, JOB, "lost")
        app.extensions["redis"] = redis_lib.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)
        try:
            with caplog.at_level(logging.WARNING, logger="core.queues"):
                db.session.commit()  # does not raise
        finally:
            app.extensions["redis"] = live
        assert db.session.query(User).filter_by(email="kept@example.com").count() == 1
    [warning] = [r for r in caplog.records if r.name == "core.queues"]
    assert warning.levelname == "WARNING" and JOB in warning.getMessage() and "sweep" in warning.getMessage()


def test_an_unknown_queue_is_refused_before_anything_is_registered(app):
    with app.app_context(), pytest.raises(ValueError, match="unknown queue"):
        enqueue_after_commit("nope", JOB)


def test_a_verification_whose_void_was_lost_is_voided_by_the_sweep(app, payment_app, redis_conn, monkeypatch):
    from payment_app import gateway

    monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0)
    with payment_app.app_context():
        db.session.add(MockGatewayRequest(id="gw_auth1", idempotency_key="txn:v1", operation="authorise",
                                          reference="v1", amount_cents=0, currency="USD", approved=True))
        txn_id = uuid.uuid4()
        txn = Transaction(id=txn_id, user_id=1, kind="verify", status="succeeded", amount_cents=0,
                          currency="USD", gateway_reference="gw_auth1")
        db.session.add(txn)
        db.session.commit()  # its answer was applied, the void job never reached Redis
        db.session.execute(db.text("UPDATE transactions SET created_at = created_at - interval '1 hour'"))
        db.session.commit()
        assert resubmit_stuck()["voids"] == 1
    drain(redis_conn)
    with payment_app.app_context():
        assert db.session.get(Transaction, txn_id).status == "voided"
        assert resubmit_stuck()["voids"] == 0
