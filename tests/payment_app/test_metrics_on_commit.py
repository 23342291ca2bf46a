"""Payment outcomes are counted by the commit that makes them true: never before it, never without it,
and once however often a failed commit is retried."""
import pytest
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, text

from core import metrics
from core.extensions import db
from core.on_commit import on_commit
from payment_app import events
from payment_app.models import Refund, Transaction
from tests.support.payment_fixtures import SUCCESS_CARD, gateway_event, post_gateway_event

pytestmark = pytest.mark.payment


@pytest.fixture
def pay_ctx(app, payment_app):
    """The payment app's context; `app` cleans the tables and the test Redis database afterwards."""
    with payment_app.app_context():
        yield
        db.session.remove()


def _count(redis_conn, outcome):
    raw = redis_conn.hget(metrics.PAYMENTS_KEY, outcome)
    return 0 if raw is None else int(raw)


def _pending_charge(amount_cents=700, status="pending") -> Transaction:
    txn = Transaction(user_id=1, kind="charge", status=status, amount_cents=amount_cents, currency="USD")
    db.session.add(txn)
    db.session.commit()
    return txn


def _settle_charge():
    events.settle_transaction(_pending_charge(), succeeded=True)
    return "succeeded"


def _settle_refund():
    txn = _pending_charge(status="succeeded")
    refund = Refund(transaction_id=txn.id, user_id=1, amount_cents=700, currency="USD", status="pending")
    db.session.add(refund)
    db.session.commit()
    events.settle_refund(refund, txn, succeeded=True)
    return "refund_succeeded"


@pytest.mark.parametrize("settle", [_settle_charge, _settle_refund])
def test_settled_outcome_is_counted_once_and_only_after_commit(pay_ctx, redis_conn, settle):
    outcome = settle()
    assert _count(redis_conn, outcome) == 0  # settled, not committed: not true yet
    db.session.commit()
    assert _count(redis_conn, outcome) == 1
    db.session.commit()  # a later transaction does not count it again
    assert _count(redis_conn, outcome) == 1


@pytest.mark.parametrize("settle", [_settle_charge, _settle_refund])
@pytest.mark.parametrize("end", ["rollback", "close"])
def test_settled_outcome_that_never_commits_is_not_counted(pay_ctx, redis_conn, settle, end):
    outcome = settle()
    getattr(db.session, end)()  # close: a session given up without a rollback (its connection rolls back)
    db.session.commit()  # the next transaction of the same session must not carry it
    assert _count(redis_conn, outcome) == 0
    assert db.session.scalar(text("SELECT count(*) FROM transactions WHERE status = 'succeeded'")) == (
        0 if outcome == "succeeded" else 1)


@pytest.mark.parametrize("end,expected", [("commit", 1), ("rollback", 0)])
def test_registered_before_any_statement_belongs_to_the_next_transaction(pay_ctx, redis_conn, end, expected):
    assert db.session().get_transaction() is None  # nothing begun yet: a rollback now would fire no event
    on_commit(lambda: metrics.payment_outcome("succeeded"))
    getattr(db.session, end)()
    db.session.commit()
    assert _count(redis_conn, "succeeded") == expected


def test_savepoint_release_does_not_count_before_the_commit(pay_ctx, redis_conn):
    txn = _pending_charge()
    with db.session.begin_nested():
        events.settle_transaction(txn, succeeded=True)
    assert _count(redis_conn, "succeeded") == 0  # SAVEPOINT released: nothing committed yet
    db.session.commit()
    assert _count(redis_conn, "succeeded") == 1


def test_savepoint_rollback_drops_only_its_own_outcomes(pay_ctx, redis_conn):
    kept, undone = _pending_charge(), _pending_charge()
    events.settle_transaction(kept, succeeded=True)
    with pytest.raises(ValueError), db.session.begin_nested():
        with db.session.begin_nested():  # released into the outer savepoint, then rolled back with it
            events.settle_transaction(undone, succeeded=False)
        raise ValueError
    db.session.commit()
    assert _count(redis_conn, "succeeded") == 1
    assert _count(redis_conn, "failed") == 0
    assert db.session.get(Transaction, undone.id).status == "pending"


def test_gateway_answer_whose_commit_fails_counts_once_when_redelivered(pay, make_user):
    """The database connection dies during the webhook's commit (503); the gateway sends the event again."""
    user, h = make_user()
    txn_id = pay.pay_invoice(user.id, h, SUCCESS_CARD, amount_due_cents=700).json["id"]
    killed = []

    def kill_connection(session):
        if killed or not any(isinstance(o, Transaction) and o.status == "succeeded" for o in session.dirty):
            return
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db.engine.connect() as other:
            killed.append(other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar())

    envelope = gateway_event(txn_id)
    event.listen(FlaskSession, "before_commit", kill_connection)
    try:
        failed = post_gateway_event(pay, envelope)
    finally:
        event.remove(FlaskSession, "before_commit", kill_connection)
    assert killed == [True] and failed.status_code == 503
    retried = post_gateway_event(pay, envelope)
    assert retried.status_code == 200 and retried.json["processed"] is True
    assert pay.transaction(h, txn_id).json["status"] == "succeeded"
    assert _count(pay.redis, "succeeded") == 1
