"""A plan's interval_count is at least 1 and at most three years of its interval, in the database itself."""
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from subscription_app.billing.periods import MAX_INTERVAL_COUNT, add_interval, next_period_end
from subscription_app.models import Plan
from subscription_app import seed as seed_module
from subscription_app.seed import PLANS, seed

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
ANCHOR = datetime(2027, 1, 31, 12, tzinfo=timezone.utc)


def _insert(interval: str, count: int) -> None:
    db.session.add(Plan(id=uuid.uuid4(), code=f"p_{uuid.uuid4().hex[:8]}", name="P", price_cents=100,
                        billing_interval=interval, interval_count=count))
    db.session.flush()


def test_the_limits_are_three_years_of_each_interval():
    assert MAX_INTERVAL_COUNT == {"day": 1095, "week": 156, "month": 36, "year": 3}


@pytest.mark.parametrize("interval", sorted(MAX_INTERVAL_COUNT))
def test_the_database_refuses_counts_outside_1_to_the_limit(app, interval):
    limit = MAX_INTERVAL_COUNT[interval]
    with app.app_context():
        for count in (1, limit):
            _insert(interval, count)
        db.session.commit()
        for count in (0, -1, limit + 1, 2**31 - 1):
            with pytest.raises(IntegrityError) as caught:
                _insert(interval, count)
            assert caught.value.orig.diag.constraint_name == "ck_plans_interval_count"
            db.session.rollback()
        assert len(db.session.scalars(select(Plan)).all()) == 2  # nothing of the refused rows remains


def test_seeded_plans_satisfy_the_rule(app):
    with app.app_context():
        seed()
        plans = db.session.scalars(select(Plan)).all()
        assert len(plans) == len(PLANS)
        for plan in plans:
            assert 1 <= plan.interval_count <= MAX_INTERVAL_COUNT[plan.billing_interval], plan.code


@pytest.mark.parametrize("count", [0, -1, 37, 1.5, True])
def test_a_bad_seed_plan_is_refused_by_name_before_anything_is_written(app, monkeypatch, count):
    bad = dict(PLANS[0], code="broken_monthly", id=uuid.uuid4(), interval_count=count)
    monkeypatch.setattr(seed_module, "PLANS", [*PLANS, bad])
    with app.app_context():
        with pytest.raises(RuntimeError, match=f"seed plan broken_monthly: interval_count {count!r} is outside 1..36"):
            seed()
        db.session.rollback()
        assert db.session.scalars(select(Plan)).all() == []


@pytest.mark.parametrize("interval,count", [("month", 0), ("month", -1), ("day", 0), ("week", -2),
                                            ("year", 4), ("month", 37)])
def test_period_arithmetic_refuses_a_count_out_of_range(interval, count):
    # A count of 0 divided by zero and a negative one looped forever; neither can reach here from a row now.
    with pytest.raises(ValueError, match="interval_count"):
        next_period_end(ANCHOR, ANCHOR, interval, count)
    with pytest.raises(ValueError, match="interval_count"):
        add_interval(ANCHOR, interval, count)


def test_the_longest_periods_are_computed():
    assert add_interval(ANCHOR, "year", 3) == ANCHOR.replace(year=2030)
    assert add_interval(ANCHOR, "month", 36) == ANCHOR.replace(year=2030)


def test_the_rule_is_in_the_plan_catalogue_docs(client):
    field = client.get("/openapi.json").json["components"]["schemas"]["Plan"]["properties"]["interval_count"]
    assert field["readOnly"] is True and "36 months" in field["description"]
