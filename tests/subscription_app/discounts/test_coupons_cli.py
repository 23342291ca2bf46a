"""`flask coupons ...` and `flask promotion-codes ...`: the admin API's rules from a shell, audited as cli."""
import pytest
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.discounts.models import Coupon, PromotionCode

pytestmark = pytest.mark.subscription


@pytest.fixture
def cli(app, seeded):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_create_and_list_coupon_and_code(cli):
    made = cli("coupons", "create", "--name", "Spring", "--percent-off", "20", "--duration", "repeating",
               "--periods", "3", "--max-redemptions", "50")
    assert made.exit_code == 0, made.output
    coupon_id = made.output.split()[0]
    code = cli("promotion-codes", "create", "--code", "SPRING20", "--coupon", coupon_id, "--once-per-customer")
    assert code.exit_code == 0, code.output
    assert "'Spring' 20% repeating x3 0/50" in cli("coupons", "list").output
    assert "SPRING20" in cli("promotion-codes", "list").output
    assert db.session.scalar(select(PromotionCode.once_per_customer)) is True
    sources = set(db.session.scalars(select(AuditEvent.source).where(
        AuditEvent.object_type.in_(("coupon", "promotion_code")))))
    assert sources == {"cli"}


def test_a_refused_coupon_names_the_field_and_writes_nothing(cli):
    both = cli("coupons", "create", "--name", "x", "--percent-off", "10", "--amount-off", "100",
               "--currency", "USD", "--duration", "once")
    assert both.exit_code == 1 and "percent_off" in both.output
    no_periods = cli("coupons", "create", "--name", "x", "--percent-off", "10", "--duration", "repeating")
    assert no_periods.exit_code == 1 and "duration_in_periods" in no_periods.output
    unknown = cli("promotion-codes", "create", "--code", "NOPE1", "--coupon", "00000000-0000-0000-0000-000000000000")
    assert unknown.exit_code == 1 and "coupon_id" in unknown.output
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 0
