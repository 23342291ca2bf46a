"""The operator's subscription actions: cancel, un-cancel, change plan with a proration, extend a trial (#15)."""
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.backoffice.schemas import ADMIN_PRORATION_MODES
from subscription_app.billing import quotes
from subscription_app.catalog import audit, plans
from subscription_app.models import Invoice, Plan, Subscription
from subscription_app.seed import BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID, PRO_TRIAL_ID
from tests.support.billing_support import GOOD_CARD, charge_requests, pay, set_period, subscribe_and_pay, when

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")


@pytest.fixture
def active(client, seeded, make_user):
    user, h = make_user()
    return subscribe_and_pay(client, h, user.id)


def actions(sub_id) -> list[tuple]:
    return [(e.action, e.source) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == str(sub_id)).order_by(AuditEvent.id))]


def url(sub, action: str) -> str:
    return f"/v1/admin/subscriptions/{sub['id']}/{action}"


def test_non_admins_get_403_and_nothing_changes(client, active, make_user):
    _, h = make_user()
    for action, body in (("cancel", {}), ("resume", None), ("plan", {"plan_id": str(ENTERPRISE_MONTHLY_ID)}),
                         ("trial", {"trial_end": "2030-01-01T00:00:00Z"})):
        assert client.post(url(active, action), json=body, headers=h).status_code == 403, action
    assert db.session.get(Subscription, uuid.UUID(active["id"])).status == "active"


def test_cancel_at_period_end_then_uncancel_audited(client, admin, active):
    _, h = admin
    scheduled = client.post(url(active, "cancel"), json={"at_period_end": True}, headers=h)
    assert scheduled.status_code == 200 and scheduled.json["cancel_at_period_end"] is True, scheduled.json
    undone = client.post(url(active, "resume"), headers=h)
    assert undone.status_code == 200 and undone.json["cancel_at_period_end"] is False, undone.json
    assert actions(active["id"]) == [("subscription.cancel_at_period_end", "api"), ("subscription.resume", "api")]


def test_cancel_now_is_idempotent_and_a_second_cancel_is_409(client, admin, active):
    _, h = admin
    key = {**h, "Idempotency-Key": "cancel-1"}
    first = client.post(url(active, "cancel"), json={}, headers=key)
    assert first.status_code == 200 and first.json["status"] == "canceled", first.json
    assert client.post(url(active, "cancel"), json={}, headers=key).headers.get("Idempotent-Replayed") == "true"
    assert client.post(url(active, "cancel"), json={}, headers=h).status_code == 409
    assert actions(active["id"]) == [("subscription.cancel", "api")]
    bad = client.post(url(active, "cancel"), json={"at_period_end": "yes"}, headers=h)
    assert bad.status_code == 422 and "at_period_end" in bad.json["errors"]["json"]


@pytest.mark.parametrize("proration, charged_now", [("create_prorations", True), ("none", False)])
def test_change_plan_with_the_chosen_proration(client, admin, active, proration, charged_now):
    _, h = admin
    changed = client.post(url(active, "plan"), json={"plan_id": str(ENTERPRISE_MONTHLY_ID), "proration": proration},
                          headers=h)
    assert changed.status_code == 200, changed.json
    upgrade = db.session.scalar(select(Invoice).where(Invoice.subscription_id == uuid.UUID(active["id"]),
                                                      Invoice.reason == "subscription_update"))
    assert (upgrade is not None and upgrade.amount_due_cents > 0) is charged_now
    assert actions(active["id"]) == [(f"subscription.change_plan.{proration}", "api")]
    bad = client.post(url(active, "plan"), json={"plan_id": str(ENTERPRISE_MONTHLY_ID), "proration": "full"},
                      headers=h)
    assert bad.status_code == 422 and "proration" in bad.json["errors"]["json"]


def _ten_days_into_thirty(client, sub) -> None:
    now = clock.utcnow().replace(microsecond=0)
    set_period(client.application, sub["id"], now - timedelta(days=10), now + timedelta(days=20))


@pytest.mark.parametrize("plan_id, cents", [(ENTERPRISE_MONTHLY_ID, 9900), (BASIC_MONTHLY_ID, 900)])
def test_full_price_now_charges_the_whole_new_price_and_restarts_the_period(client, admin, active, plan_id, cents):
    """Up or down, 20 of 30 days left on Pro (2900): the new price whole, nothing credited; the period starts at payment."""
    _ten_days_into_thirty(client, active)
    changed = client.post(url(active, "plan"), json={"plan_id": str(plan_id), "proration": "full_price_now"},
                          headers={**admin[1], "Idempotency-Key": f"full-{cents}"})
    assert changed.status_code == 200, changed.json
    assert changed.json["plan_id"] == str(PRO_MONTHLY_ID)  # not before the payment
    invoice = changed.json["latest_invoice"]
    assert (invoice["reason"], invoice["status"], invoice["amount_due_cents"]) == ("subscription_update", "open", cents)
    assert [(line["kind"], line["amount_cents"], line["plan_id"]) for line in invoice["lines"]] == [
        ("proration_credit", 0, str(PRO_MONTHLY_ID)), ("plan", cents, str(plan_id))]
    assert charge_requests(client.application)[-1]["data"]["amount_cents"] == cents
    sub = db.session.get(Subscription, uuid.UUID(active["id"]))
    assert pay(client, invoice, sub.user_id).status_code == 200
    db.session.refresh(sub)
    paid = db.session.get(Invoice, uuid.UUID(invoice["id"]))
    assert sub.plan_id == plan_id and sub.pending_plan_id is None
    assert sub.current_period_start == paid.paid_at == sub.billing_cycle_anchor
    assert sub.current_period_end > clock.utcnow() + timedelta(days=27)  # a whole new month, not the 20 days left
    assert actions(active["id"]) == [("subscription.change_plan.full_price_now", "api")]


def test_the_three_modes_in_cents_as_the_docs_table_shows(client, admin, active):
    """Pro (2900) to Enterprise (9900) with 20 of 30 days left, each mode priced at the same instant."""
    _ten_days_into_thirty(client, active)
    sub = db.session.get(Subscription, uuid.UUID(active["id"]))
    db.session.refresh(sub)
    old, new = db.session.get(Plan, PRO_MONTHLY_ID), db.session.get(Plan, ENTERPRISE_MONTHLY_ID)
    priced = {mode: quotes.price(sub, old, new, clock.utcnow().replace(microsecond=0), mode)
              for mode in ADMIN_PRORATION_MODES}
    assert {mode: (p["effect"], p["amount_due_now_cents"], [line["amount_cents"] for line in p["lines"]])
            for mode, p in priced.items()} == {
        "create_prorations": ("upgrade", 4666, [-1934, 6600]),
        "none": ("at_period_end", 0, []),
        "full_price_now": ("full_price", 9900, [0, 9900])}
    assert priced["none"]["next_renewal_at"] == sub.current_period_end.isoformat()
    assert when(priced["full_price_now"]["next_renewal_at"]) > sub.current_period_end + timedelta(days=7)


def test_extend_a_trial(client, admin, make_user):
    _, h = admin
    _, uh = make_user()
    trial = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "card": GOOD_CARD},
                        headers=uh).json
    later = when(trial["trial_end"]) + timedelta(days=7)
    extended = client.post(url(trial, "trial"), json={"trial_end": later.isoformat()}, headers=h)
    assert extended.status_code == 200, extended.json
    assert when(extended.json["trial_end"]) == later == when(extended.json["current_period_end"])
    history = client.get(f"/v1/subscriptions/{trial['id']}/history", headers=uh).json["items"]
    assert [e["type"] for e in history][-1] == "trial_extended"
    assert actions(trial["id"]) == [("subscription.extend_trial", "api")]
    earlier = client.post(url(trial, "trial"), json={"trial_end": clock.utcnow().isoformat()}, headers=h)
    assert earlier.status_code == 422 and "trial_end" in earlier.json["errors"]["json"], earlier.json
    naive = client.post(url(trial, "trial"), json={"trial_end": "2030-01-01T00:00:00"}, headers=h)
    assert naive.status_code == 422 and "trial_end" in naive.json["errors"]["json"]


def test_extend_trial_of_an_active_subscription_is_409(client, admin, active):
    later = (clock.utcnow() + timedelta(days=40)).isoformat()
    response = client.post(url(active, "trial"), json={"trial_end": later}, headers=admin[1])
    assert response.status_code == 409 and "trialing" in response.json["message"]


def test_list_every_customers_subscriptions_with_filters_and_cursor(client, admin, active, make_user):
    _, h = admin
    other, oh = make_user("zed@acme.test")
    basic = subscribe_and_pay(client, oh, other.id, plan_id=BASIC_MONTHLY_ID)

    def ids(query) -> list[str]:
        response = client.get("/v1/admin/subscriptions", query_string=query, headers=h)
        assert response.status_code == 200, response.json
        return [s["id"] for s in response.json["items"]]

    assert ids({"plan_id": str(PRO_MONTHLY_ID)}) == [active["id"]]
    assert ids({"email_prefix": "ZED"}) == [basic["id"]]
    assert ids({"status": "canceled"}) == []
    first = client.get("/v1/admin/subscriptions?limit=1", headers=h).json
    rest = client.get("/v1/admin/subscriptions", query_string={"limit": 1, "starting_after": first["next_cursor"]},
                      headers=h).json
    assert [s["id"] for s in first["items"] + rest["items"]] == [basic["id"], active["id"]]  # newest first
    assert rest["has_more"] is False and first["items"][0]["customer_id"] == other.id
    bad = client.get("/v1/admin/subscriptions?status=nope", headers=h)
    assert bad.status_code == 422 and "status" in bad.json["errors"]["query"]
    assert client.get("/v1/admin/subscriptions", headers=make_user()[1]).status_code == 403


def test_a_quote_credits_the_unused_time_at_the_price_the_subscriber_pays(client, admin, active):
    """Pro moved to 3900 after this subscriber joined at 2900: the credit is theirs, not the new price's."""
    plans.new_price(db.session.get(Plan, PRO_MONTHLY_ID), 3900, audit.CLI)
    db.session.commit()
    _ten_days_into_thirty(client, active)
    sub = db.session.get(Subscription, uuid.UUID(active["id"]))
    db.session.refresh(sub)
    quote = quotes.price(sub, db.session.get(Plan, PRO_MONTHLY_ID), db.session.get(Plan, ENTERPRISE_MONTHLY_ID),
                         clock.utcnow().replace(microsecond=0), "create_prorations")
    assert (quote["old_price_cents"], quote["amount_due_now_cents"]) == (2900, 4666)  # floor(7000 * 20 / 30)
    assert [line["amount_cents"] for line in quote["lines"]] == [-1934, 6600]
