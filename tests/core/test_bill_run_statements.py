"""What a bill run costs PostgreSQL, counted: a renewal's statements do not grow with the run, and the reads
a batch shares (plans, webhook endpoints) or nobody uses (an invoice's lines when it is paid) are not made per
renewal. Both real services in-process; only the gateway's randomness and the clock are controlled."""
import secrets
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from core import clock
from core.extensions import db
from payment_app import gateway
from payment_app.models import MockGatewayToken, PaymentMethod
from subscription_app.billing.renewals import run_cycle
from subscription_app.models import Invoice, Subscription, User
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.payment_fixtures import drain
from tests.support.sql import count, recorded

pytestmark = [pytest.mark.subscription, pytest.mark.payment, pytest.mark.calendar]


@pytest.fixture
def approved(monkeypatch):
    monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0)


def _due(app, payment_app, n: int, prefix: str) -> list[int]:
    """n customers with a saved success card and an active Pro subscription whose period just ended."""
    with app.app_context():
        ids = list(db.session.execute(insert(User).returning(User.id), [
            {"email": f"{prefix}{i}@example.com", "password_hash": "x", "role": "user"} for i in range(n)]).scalars())
        db.session.commit()
    tokens, methods = ["tok_" + secrets.token_hex(12) for _ in ids], [uuid.uuid4() for _ in ids]
    with payment_app.app_context():
        db.session.execute(insert(MockGatewayToken), [
            {"token": t, "brand": "visa", "last4": "4242", "approvable": True} for t in tokens])
        db.session.execute(insert(PaymentMethod), [
            {"id": m, "user_id": u, "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2099,
             "gateway_token": t} for m, u, t in zip(methods, ids, tokens)])
        db.session.commit()
    with app.app_context():
        end = clock.utcnow() - timedelta(seconds=1)
        db.session.execute(insert(Subscription), [
            {"id": uuid.uuid4(), "user_id": u, "plan_id": PRO_MONTHLY_ID, "status": "active",
             "current_period_start": end - timedelta(days=30), "current_period_end": end,
             "billing_cycle_anchor": end, "payment_method_id": m} for u, m in zip(ids, methods)])
        db.session.commit()
    return ids


def _paid(app, ids) -> int:
    with app.app_context():
        return db.session.scalar(select(db.func.count()).select_from(Invoice).where(
            Invoice.user_id.in_(ids), Invoice.reason == "subscription_cycle", Invoice.status == "paid"))


def _bill_run(app, payment_app, redis_conn, n: int, prefix: str) -> tuple[list[str], list[str]]:
    """The statements of the billing job, then of every job after it, for n renewals (all of them paid)."""
    ids = _due(app, payment_app, n, prefix)
    with recorded(app, payment_app) as billing:
        with app.app_context():
            assert run_cycle()["renewed_or_ended"] == n
    with recorded(app, payment_app) as after:
        drain(redis_conn)
    assert _paid(app, ids) == n
    return billing, after


def test_a_renewals_statements_do_not_grow_with_the_bill_run(app, payment_app, seeded, redis_conn, approved):
    small = _bill_run(app, payment_app, redis_conn, 3, "small")
    large = _bill_run(app, payment_app, redis_conn, 9, "large")
    # Each extra renewal adds the same statements to each part: a batch's own are paid once.
    per_renewal = [(len(l) - len(s)) / 6 for s, l in zip(small, large)]
    assert per_renewal == [round(p) for p in per_renewal]
    billing, after = large
    assert count(billing, "FROM plans") == 1  # one read for the batch, held while its rows renew
    assert count(billing, "FROM webhook_endpoints") == 1  # one transaction for the batch
    # The payment webhook locks the subscription and its invoice (two statements) and reads no lines.
    assert count(after, "FROM invoice_lines") == 0 and count(after, "FROM credit_notes") == 0
    assert count(after, "SELECT invoices.id,") == 9  # the invoice locked, once each
    # The batch receivers' events share one transaction each: the payment results commit once for nine.
    assert count(after, "INSERT INTO sub_inbox_events") == 9
    assert count(after, "FROM webhook_endpoints") == 1
    # The charge requests' answers are not re-read after their commits, and one write records the
    # gateway's references for the batch.
    assert count(after, "PAY SELECT transactions.id, transactions.user_id") == 9 * 2  # by key; locked by the answer
    assert count(after, "PAY UPDATE transactions SET gateway_reference") == 1
    assert per_renewal[1] <= 23, per_renewal


def test_a_payment_batch_applies_its_events_in_one_transaction(app, payment_app, seeded, redis_conn, approved):
    ids = _due(app, payment_app, 3, "one")
    with app.app_context():
        run_cycle()
    with recorded(app, payment_app) as sent:
        drain(redis_conn)
    assert _paid(app, ids) == 3
    claims = [i for i, statement in enumerate(sent) if statement.startswith("INSERT INTO sub_inbox_events")]
    assert len(claims) == 3
    # No commit of the subscription service between the first event's claim and the last one's: one transaction,
    # each event in its own SAVEPOINT.
    assert "COMMIT" not in sent[claims[0]:claims[-1]]
    assert sum(statement.startswith("SAVEPOINT") for statement in sent[claims[0] - 1:claims[-1]]) == 3
    assert "COMMIT" in sent[claims[-1]:]
