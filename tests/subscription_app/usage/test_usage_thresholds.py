"""usage.threshold_reached: once per threshold per feature per period (issue #17)."""
import pytest
from sqlalchemy import select

from core.extensions import db
from subscription_app.integrations.models import IntegrationEvent
from tests.support.billing_support import BASIC_MONTHLY_ID, advance_to, run_cycle, subscribe_and_pay
from tests.support.usage_support import use

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def _price(client, make_user, **extra):
    h = make_user(email="ops@example.com", role="admin")[1]
    pricing = {"api_calls": {"included": 1000, "limit_mode": "soft", "unit_amount_cents": 2, **extra}}
    assert client.patch(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", json={"usage_pricing": pricing},
                        headers=h).status_code == 200


def _alerts(app):
    with app.app_context():
        rows = db.session.scalars(select(IntegrationEvent).where(IntegrationEvent.type == "usage.threshold_reached")
                                  .order_by(IntegrationEvent.created_at)).all()
        return [r.payload["data"]["object"] for r in rows]


def test_80_and_100_percent_each_once_per_period(app, client, seeded, make_user, payment_stub):
    _price(client, make_user)
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    use(client, h, "api_calls", 799)
    assert _alerts(app) == []
    use(client, h, "api_calls", 1)
    use(client, h, "api_calls", 300)
    use(client, h, "api_calls", 300)
    assert [(a["threshold_percent"], a["threshold_quantity"]) for a in _alerts(app)] == [(80, 800), (100, 1000)]
    assert _alerts(app)[1]["used"] == 1100 and _alerts(app)[1]["customer"] == user.id
    advance_to(app, sub["current_period_end"])
    run_cycle()
    use(client, h, "api_calls", 900)  # a new period: the 80 % threshold again
    assert [a["threshold_percent"] for a in _alerts(app)] == [80, 100, 80]


def test_custom_thresholds_and_bad_ones(app, client, seeded, make_user, payment_stub):
    h_admin = make_user(email="ops@example.com", role="admin")[1]
    bad = {"api_calls": {"included": 1000, "limit_mode": "soft", "unit_amount_cents": 2, "alert_percents": [0]}}
    r = client.patch(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", json={"usage_pricing": bad}, headers=h_admin)
    assert "usage_pricing.api_calls.alert_percents" in r.json["errors"]["json"]
    bad["api_calls"]["alert_percents"] = [50]
    assert client.patch(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", json={"usage_pricing": bad},
                        headers=h_admin).status_code == 200
    user, h = make_user()
    subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    use(client, h, "api_calls", 2000)
    assert [a["threshold_percent"] for a in _alerts(app)] == [50]


def test_an_unpriced_hard_limit_alerts_at_80_and_100_of_its_cap(app, client, seeded, make_user, payment_stub):
    user, h = make_user()
    subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    use(client, h, "reports", 10)
    assert [(a["feature"], a["threshold_quantity"]) for a in _alerts(app)] == [("reports", 8), ("reports", 10)]
