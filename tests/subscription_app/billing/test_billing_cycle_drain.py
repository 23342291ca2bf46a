"""A bill run of any size completes: the CLI and the periodic job drain every due subscription in batches."""
import uuid
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from core import clock
from core.extensions import db
from core.queues import DEFAULT, get_queue
from subscription_app.billing.cycle import run_billing_cycle
from subscription_app import cli as subscription_cli
from subscription_app.models import Invoice, Subscription, User
from tests.support.billing_support import PRO_MONTHLY_ID

pytestmark = pytest.mark.subscription
DUE = 230  # more than several batches of BATCH, never an exact multiple
BATCH = 40


@pytest.fixture
def small_batches(app):
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.with_overrides(billing_batch_size=BATCH)
    yield app
    app.config["SETTINGS"] = settings


def _due(app, n: int) -> None:
    """n active subscriptions whose period ended a second ago, without a saved card (no charge goes out)."""
    with app.app_context():
        now = clock.utcnow()
        users = [User(email=f"due{i}@example.com", password_hash="x") for i in range(n)]
        db.session.add_all(users)
        db.session.flush()
        # Anchored 40 days back: the next anchor + k months is weeks ahead on any calendar date.
        start, end = now - timedelta(days=40), now - timedelta(seconds=1)
        db.session.add_all([Subscription(id=uuid.uuid4(), user_id=u.id, plan_id=PRO_MONTHLY_ID, status="active",
                                         current_period_start=start, current_period_end=end,
                                         billing_cycle_anchor=start) for u in users])
        db.session.commit()


def _renewal_counts(app) -> tuple[int, int]:
    """(renewal invoices, subscriptions still due)."""
    with app.app_context():
        invoices = db.session.scalar(select(func.count()).select_from(Invoice)
                                     .where(Invoice.reason == "subscription_cycle"))
        due = db.session.scalar(select(func.count()).select_from(Subscription)
                                .where(Subscription.current_period_end <= clock.utcnow()))
        return invoices, due


def test_the_cli_renews_everything_due_and_ends_with_a_readable_summary(small_batches, seeded):
    _due(small_batches, DUE)
    result = small_batches.test_cli_runner().invoke(args=["billing-cycle"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"renewed or ended {DUE}, dunning retries 0, expired unpaid 0, "
                                    "lapsed plan changes 0, failed 0 in ")
    assert result.stdout.rstrip().endswith(" s") and "{" not in result.stdout
    assert result.stderr == ""  # not a terminal: no progress
    assert _renewal_counts(small_batches) == (DUE, 0)


def test_the_cli_shows_progress_on_a_terminal(small_batches, seeded, monkeypatch):
    _due(small_batches, DUE)
    monkeypatch.setattr(subscription_cli, "_stderr_is_terminal", lambda: True)
    result = small_batches.test_cli_runner().invoke(args=["billing-cycle"])
    assert result.exit_code == 0, result.output
    shown = [part.strip() for part in result.stderr.split("\r") if part.strip()]
    assert shown == [f"renewed or ended: {n}" for n in range(BATCH, DUE, BATCH)] + [f"renewed or ended: {DUE}"]
    assert result.stdout.startswith(f"renewed or ended {DUE},")


def test_a_failing_row_is_counted_and_the_cli_exits_1(small_batches, seeded):
    _due(small_batches, 3)
    with small_batches.app_context():  # a plan that cannot be renewed: its interval is unknown to the code
        db.session.execute(db.text("ALTER TABLE plans DROP CONSTRAINT ck_plans_billing_interval"))
        db.session.execute(db.text("UPDATE plans SET billing_interval = 'hour' WHERE id = :id"), {"id": PRO_MONTHLY_ID})
        db.session.commit()
    try:
        result = small_batches.test_cli_runner().invoke(args=["billing-cycle"])
    finally:
        with small_batches.app_context():
            db.session.execute(db.text("UPDATE plans SET billing_interval = 'month'"))
            db.session.execute(db.text("ALTER TABLE plans ADD CONSTRAINT ck_plans_billing_interval "
                                       "CHECK (billing_interval IN ('day', 'week', 'month', 'year'))"))
            db.session.commit()
    assert result.exit_code == 1
    assert "renewed or ended 0," in result.stdout and "failed 3 in " in result.stdout


def test_the_periodic_job_continues_past_its_budget_until_nothing_is_due(small_batches, seeded, redis_conn):
    app = small_batches
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(billing_job_budget_seconds=0)
    _due(app, DUE)
    first = run_billing_cycle()
    assert (first["renewed_or_ended"], first["complete"]) == (BATCH, False)  # one batch, then out of budget
    queue = get_queue(DEFAULT, connection=redis_conn)
    assert [job.func_name for job in queue.jobs] == ["subscription_app.billing.cycle.run_billing_cycle"]
    SimpleWorker([queue], connection=redis_conn).work(burst=True)  # each continuation enqueues the next
    assert _renewal_counts(app) == (DUE, 0)
    assert queue.count == 0
