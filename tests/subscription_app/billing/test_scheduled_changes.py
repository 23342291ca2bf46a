"""Scheduled changes survive a failed upgrade, and the card that paid an invoice by hand is the one renewals use.

Both real services in-process (the world fixture of tests/support/world.py): only the gateway's randomness
and the clock are controlled; 4000000000000002 is always declined, 4242... approved.
"""
import pytest

from subscription_app.seed import BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID
from tests.support.world import CARD, DECLINED_CARD

pytestmark = [pytest.mark.subscription, pytest.mark.payment]


def _paid_by_hand_after_a_decline(world, client, payment_client, h):
    """Subscribe with the declining card, then pay the open invoice by hand with the good one."""
    sub = world.subscribe(h, card=DECLINED_CARD)
    world.run()
    [invoice] = world.invoices(h)
    assert invoice["status"] == "open" and world.sub(h, sub["id"])["status"] == "incomplete"
    r = payment_client.post("/v1/payments/process", json={"invoice_id": invoice["id"], "card": CARD}, headers=h)
    assert r.status_code == 202, r.json
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    return sub, r.json


def _put_plan(client, h, sub, plan_id):
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(plan_id)}, headers=h)
    assert r.status_code == 200, r.json
    return r.json


def test_a_declined_upgrade_keeps_the_scheduled_downgrade(world, client, payment_client):
    """The issue's path, with the saved card still the declining one (set back after the hand payment)."""
    h = world.user("sched-declined@example.com")
    sub, _ = _paid_by_hand_after_a_decline(world, client, payment_client, h)
    declining = [t for t in world.transactions(h) if t["status"] == "failed"][0]["payment_method_id"]
    _set_saved_method(client.application, sub["id"], declining)
    assert _put_plan(client, h, sub, BASIC_MONTHLY_ID)["pending_plan_id"] == str(BASIC_MONTHLY_ID)
    upgrade = _put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID)
    assert upgrade["pending_plan_id"] == str(BASIC_MONTHLY_ID)  # still scheduled while the upgrade is unpaid
    world.run()
    [proration] = [i for i in world.invoices(h) if i["reason"] == "subscription_update"]
    assert proration["status"] == "void"
    after = world.sub(h, sub["id"])
    assert after["plan_id"] == upgrade["plan_id"] and after["pending_plan_id"] == str(BASIC_MONTHLY_ID)


def test_a_card_used_to_pay_by_hand_becomes_the_subscriptions_card(world, client, payment_client):
    """Stripe's rule: the customer proved the card works and chose it, so renewals and upgrades charge it."""
    h = world.user("sched-card@example.com")
    sub, payment = _paid_by_hand_after_a_decline(world, client, payment_client, h)
    assert world.sub(h, sub["id"])["payment_method_id"] == payment["payment_method_id"]
    assert _put_plan(client, h, sub, BASIC_MONTHLY_ID)["pending_plan_id"] == str(BASIC_MONTHLY_ID)
    _put_plan(client, h, sub, ENTERPRISE_MONTHLY_ID)
    world.run()
    after = world.sub(h, sub["id"])
    assert after["plan_id"] == str(ENTERPRISE_MONTHLY_ID)
    assert after["pending_plan_id"] is None  # a paid upgrade replaces the scheduled downgrade
    [upgrade_txn] = [t for t in world.transactions(h) if t["invoice_id"] != payment["invoice_id"]
                     and t["status"] == "succeeded"]
    assert upgrade_txn["payment_method_id"] == payment["payment_method_id"]


def _set_saved_method(app, sub_id, method_id):
    import uuid

    from core.extensions import db
    from subscription_app.models import Subscription
    with app.app_context():
        db.session.get(Subscription, uuid.UUID(sub_id)).payment_method_id = uuid.UUID(method_id)
        db.session.commit()
