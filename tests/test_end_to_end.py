"""Both real services end to end, in-process: the subscription service tokenises through the payment
service, asks for charges through its outbox, the mock gateway answers by signed webhook, the payment
service reports back through its outbox. Only the gateway's randomness and the clock are controlled."""
from datetime import datetime, timedelta, timezone

import pytest

from core import clock
from core.extensions import db
from subscription_app.seed import ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID, PRO_TRIAL_ID
from tests.support.world import CARD, DECLINED_CARD

pytestmark = [pytest.mark.subscription, pytest.mark.payment, pytest.mark.calendar]


def test_subscribe_with_the_success_card_becomes_active_with_a_paid_invoice(world, client):
    h = world.user("e2e-ok@example.com")
    sub = world.subscribe(h)
    assert sub["status"] == "incomplete"
    assert client.get("/v1/subscriptions/active", headers=h).status_code == 404
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    assert client.get("/v1/subscriptions/active", headers=h).json["id"] == sub["id"]
    [invoice] = world.invoices(h)
    assert (invoice["status"], invoice["amount_due_cents"], invoice["amount_paid_cents"]) == ("paid", 2900, 2900)
    [txn] = world.transactions(h)
    assert (txn["status"], txn["amount_cents"], txn["currency"], txn["invoice_id"]) == (
        "succeeded", 2900, "USD", invoice["id"])
    assert invoice["transaction_id"] == txn["id"]
    charges = world.gateway_requests("charge")
    assert [(c.amount_cents, c.approved) for c in charges] == [(2900, True)]


@pytest.mark.parametrize("card,approve", [(DECLINED_CARD, True), (CARD, False)])
def test_a_declined_payment_leaves_the_subscription_unpaid_and_not_active(world, client, card, approve):
    world.approve(approve)
    h = world.user("e2e-declined@example.com")
    sub = world.subscribe(h, card=card)
    world.run()
    assert world.sub(h, sub["id"])["status"] == "incomplete"
    assert client.get("/v1/subscriptions/active", headers=h).status_code == 404
    [invoice] = world.invoices(h)
    assert invoice["status"] == "open" and invoice["amount_paid_cents"] == 0 and invoice["attempt_count"] == 1
    assert world.transactions(h)[0]["status"] == "failed"


def test_an_open_invoice_paid_through_process_activates(world, client, payment_client):
    h = world.user("e2e-process@example.com")
    sub = world.subscribe(h, card=None)
    [invoice] = world.invoices(h)
    r = payment_client.post("/v1/payments/process", json={"invoice_id": invoice["id"], "card": CARD}, headers=h)
    assert r.status_code == 202 and r.json["amount_cents"] == 2900 and r.json["status"] == "pending"
    world.run()
    assert world.sub(h, sub["id"])["status"] == "active"
    assert world.invoices(h)[0]["status"] == "paid"


def test_another_users_invoice_cannot_be_paid_or_seen(world, client, payment_client):
    a, b = world.user("e2e-a@example.com"), world.user("e2e-b@example.com")
    sub = world.subscribe(a)
    world.run()
    [invoice] = world.invoices(a)
    [txn] = world.transactions(a)
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=b).status_code == 404
    assert client.get(f"/v1/invoices/{invoice['id']}", headers=b).status_code == 404
    assert payment_client.get(f"/v1/payments/transactions/{txn['id']}", headers=b).status_code == 404
    assert payment_client.post(f"/v1/payments/refund/{txn['id']}", json={}, headers=b).status_code == 404
    r = payment_client.post("/v1/payments/process", json={"invoice_id": invoice["id"], "card": CARD}, headers=b)
    assert r.status_code == 404
    assert client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(ENTERPRISE_MONTHLY_ID)},
                      headers=b).status_code == 404
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=b).status_code == 404
    assert world.transactions(b) == []
    assert world.sub(a, sub["id"])["status"] == "active"


def test_refunds_full_and_partial_reach_the_invoice(world, payment_client, make_user):
    h = world.user("e2e-refund@example.com")
    ops = make_user(role="admin")[1]  # invoice payments are refunded by an operator
    world.subscribe(h)
    world.run()
    [txn] = world.transactions(h)
    assert payment_client.post(f"/v1/payments/refund/{txn['id']}", json={"amount_cents": 900},
                               headers=ops).status_code == 202
    world.run()
    assert world.invoices(h)[0]["amount_refunded_cents"] == 900
    over = payment_client.post(f"/v1/payments/refund/{txn['id']}", json={"amount_cents": 2001}, headers=ops)
    assert over.status_code in (409, 422)
    assert payment_client.post(f"/v1/payments/refund/{txn['id']}", json={}, headers=ops).status_code == 202
    world.run()
    after = payment_client.get(f"/v1/payments/transactions/{txn['id']}", headers=h).json
    assert (after["status"], after["refunded_cents"]) == ("refunded", 2900)
    assert world.invoices(h)[0]["amount_refunded_cents"] == 2900
    refunds = world.gateway_requests("refund")
    assert sorted(r.amount_cents for r in refunds) == [900, 2000]


def test_a_payment_that_lands_after_an_immediate_cancel_is_refunded_once(world, client, app):
    """The charge is in flight when the user cancels the incomplete subscription (its invoice is voided):
    the gateway still takes the money, and it goes back by itself, exactly once."""
    from jobs.outbox import replay_event
    from payment_app.models import PaymentOutbox, Refund
    from subscription_app.models import SubscriptionOutbox

    h = world.user("e2e-unwanted@example.com")
    sub = world.subscribe(h)
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=h).status_code == 200
    world.run()
    [txn] = world.transactions(h)
    assert (txn["status"], txn["amount_cents"], txn["refunded_cents"]) == ("refunded", 2900, 2900)
    assert [(g.amount_cents, g.approved) for g in world.gateway_requests("charge")] == [(2900, True)]
    assert [(g.amount_cents, g.approved) for g in world.gateway_requests("refund")] == [(2900, True)]
    assert world.sub(h, sub["id"])["status"] == "canceled"
    [invoice] = world.invoices(h)
    assert (invoice["status"], invoice["amount_paid_cents"], invoice["amount_refunded_cents"]) == ("void", 0, 0)
    # Every event of both services delivered again (the outbox's at-least-once), then drained again.
    with app.app_context():
        event_ids = [row.id for model in (SubscriptionOutbox, PaymentOutbox) for row in db.session.query(model)]
    assert len(event_ids) == 4  # charge.requested, payment.succeeded, refund.requested, refund.succeeded
    for event_id in event_ids:
        replay_event(str(event_id))
    world.run()
    with app.app_context():
        assert [(r.amount_cents, r.status) for r in db.session.query(Refund)] == [(2900, "succeeded")]
    assert len(world.gateway_requests("charge")) == 1 and len(world.gateway_requests("refund")) == 1
    assert world.transactions(h)[0]["status"] == "refunded"
    assert world.sub(h, sub["id"])["status"] == "canceled"


def test_a_refund_request_for_a_payment_already_refunded_by_hand_is_delivered_once(world, app, payment_client,
                                                                                  make_user):
    """The operator was faster: the money is back, so the request has reached its goal. The outbox
    marks it delivered on the first attempt instead of retrying it until it is dead."""
    from core import outbox
    from payment_app.models import Refund
    from subscription_app.models import SubscriptionOutbox

    h = world.user("e2e-by-hand@example.com")
    ops = make_user(role="admin")[1]  # invoice payments are refunded by an operator
    world.subscribe(h)
    world.run()
    [txn] = world.transactions(h)
    assert payment_client.post(f"/v1/payments/refund/{txn['id']}", json={}, headers=ops).status_code == 202
    world.run()
    with app.app_context():
        row = outbox.emit(SubscriptionOutbox, "refund.requested", "payment_refunds",
                          {"request_id": f"unwanted-payment:{txn['id']}", "transaction_id": txn["id"],
                           "reason": "subscription_canceled"})
        db.session.commit()
        event_id = row.id
    world.run()
    with app.app_context():
        row = db.session.get(SubscriptionOutbox, event_id)
        assert (row.attempts, row.last_error, row.dead_at) == (1, None, None) and row.delivered_at is not None
        assert [(r.amount_cents, r.request_id) for r in db.session.query(Refund)] == [(2900, None)]
    assert len(world.gateway_requests("refund")) == 1
    assert (world.transactions(h)[0]["status"], world.transactions(h)[0]["refunded_cents"]) == ("refunded", 2900)


def test_upgrade_charges_the_prorated_difference_once_across_both_services(world, client):
    h = world.user("e2e-upgrade@example.com")
    sub = world.subscribe(h)
    world.run()
    r = client.put(f"/v1/subscriptions/{sub['id']}/plan", json={"plan_id": str(ENTERPRISE_MONTHLY_ID)}, headers=h)
    assert r.status_code == 200, r.json
    world.run()
    after = world.sub(h, sub["id"])
    assert after["plan_id"] == str(ENTERPRISE_MONTHLY_ID)
    proration = [i for i in world.invoices(h) if i["reason"] == "subscription_update"]
    assert len(proration) == 1 and proration[0]["status"] == "paid"
    amount = proration[0]["amount_due_cents"]
    assert 0 < amount <= 9900 - 2900
    assert sorted(c.amount_cents for c in world.gateway_requests("charge")) == sorted([2900, amount])


def test_trial_with_card_is_verified_then_converted_and_charged(world, client):
    h = world.user("e2e-trial@example.com")
    r = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "card": CARD}, headers=h)
    assert r.status_code == 201 and r.json["status"] == "trialing"
    world.run()
    ops = sorted((g.operation, g.amount_cents) for g in world.gateway_requests())
    assert ops == [("authorise", 0), ("void", 0)]
    clock.set_offset(timedelta(days=15).total_seconds())
    world.billing_cycle()
    world.run()
    sub = world.sub(h, r.json["id"])
    assert (sub["status"], sub["plan_id"]) == ("active", str(PRO_MONTHLY_ID))
    conversion = [i for i in world.invoices(h) if i["reason"] == "trial_conversion"]
    assert [(i["status"], i["amount_paid_cents"]) for i in conversion] == [("paid", 2900)]


def test_renewal_then_dunning_to_cancellation(world, client):
    h = world.user("e2e-renew@example.com")
    sub = world.subscribe(h)
    world.run()
    clock.set_offset(timedelta(days=32).total_seconds())
    world.billing_cycle()
    world.run()
    renewed = world.sub(h, sub["id"])
    assert renewed["status"] == "active"
    assert [i["status"] for i in world.invoices(h) if i["reason"] == "subscription_cycle"] == ["paid"]
    world.approve(False)
    days = 32 + 31
    clock.set_offset(timedelta(days=days).total_seconds())
    world.billing_cycle()
    world.run()
    assert world.sub(h, sub["id"])["status"] == "past_due"
    for _ in range(6):
        days += 2
        clock.set_offset(timedelta(days=days).total_seconds())
        world.billing_cycle()
        world.run()
    final = world.sub(h, sub["id"])
    assert final["status"] == "canceled"
    cycle = [i for i in world.invoices(h) if i["reason"] == "subscription_cycle"]
    assert sorted(i["status"] for i in cycle) == ["paid", "uncollectible"]
    charges = world.gateway_requests("charge")
    assert sum(1 for c in charges if c.approved) == 2  # first payment and first renewal, nothing since


def test_a_subscription_started_on_jan_31_renews_on_each_months_last_day(world, client):
    """Three renewals charged through the gateway: Feb 28, then back to the 31st (Mar 31), Apr 30, May 31."""
    def clock_to(moment):
        clock.set_offset(clock.get_offset() + (moment - clock.utcnow()).total_seconds())

    clock_to(datetime(2027, 1, 31, 12, tzinfo=timezone.utc))
    h = world.user("e2e-anchor@example.com")
    sub = world.subscribe(h)
    world.run()
    anchor = datetime.fromisoformat(world.sub(h, sub["id"])["billing_cycle_anchor"])
    assert anchor == datetime.fromisoformat(sub["current_period_start"])
    ends = [datetime.fromisoformat(sub["current_period_end"])]
    for _ in range(3):
        clock_to(ends[-1] + timedelta(seconds=1))
        assert world.billing_cycle()["renewed_or_ended"] == 1
        world.run()
        renewed = world.sub(h, sub["id"])
        assert renewed["status"] == "active" and renewed["latest_invoice"]["status"] == "paid"
        assert datetime.fromisoformat(renewed["billing_cycle_anchor"]) == anchor
        ends.append(datetime.fromisoformat(renewed["current_period_end"]))
    assert ends == [anchor.replace(month=2, day=28), anchor.replace(month=3), anchor.replace(month=4, day=30),
                    anchor.replace(month=5)]
    cycle = [i for i in world.invoices(h) if i["reason"] == "subscription_cycle"]
    assert sorted((i["period_end"], i["amount_paid_cents"]) for i in cycle) == [(e.isoformat(), 2900) for e in ends[1:]]
    assert [c.amount_cents for c in world.gateway_requests("charge") if c.approved] == [2900] * 4


def test_payment_outcomes_and_deliveries_reach_the_metrics(world, payment_client):
    h = world.user("e2e-metrics@example.com")
    world.subscribe(h)
    world.run()
    text = payment_client.get("/metrics").get_data(as_text=True)  # the service owning both events
    assert 'billing_payments_total{outcome="succeeded"} 1.0' in text
    assert 'billing_webhook_deliveries_total{event_type="payment.succeeded",outcome="delivered"} 1.0' in text
