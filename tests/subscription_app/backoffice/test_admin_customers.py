"""The operator's customers over /v1/admin/customers: search, detail, external_id and metadata (issue #15)."""
import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import clock
from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.models import Invoice, Subscription, User
from tests.support.billing_support import GOOD_CARD, advance_to, charge_requests, pay, run_cycle, subscribe_and_pay, when

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")


def emails(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [c["email"] for c in response.json["items"]]


def test_non_admins_get_403_everywhere(client, seeded, make_user):
    user, h = make_user()
    for method, url in (("get", "/v1/admin/customers"), ("get", f"/v1/admin/customers/{user.id}"),
                        ("patch", f"/v1/admin/customers/{user.id}")):
        response = getattr(client, method)(url, json={"external_id": "x"} if method == "patch" else None, headers=h)
        assert response.status_code == 403 and response.json["message"] == "Admin role required", url


def test_search_by_email_prefix_status_past_due_and_created(client, admin, make_user):
    _, h = admin
    alice, ah = make_user("alice@acme.test")
    bob, bh = make_user("bob@acme.test")
    make_user("al_x@other.test")
    subscribe_and_pay(client, ah, alice.id)
    late = subscribe_and_pay(client, bh, bob.id, card=False)
    advance_to(client.application, late["current_period_end"])
    run_cycle()  # no saved card: bob's renewal is past due

    assert emails(client.get("/v1/admin/customers?email_prefix=AL", headers=h)) == ["al_x@other.test",
                                                                                     "alice@acme.test"]
    assert emails(client.get("/v1/admin/customers?email_prefix=al_", headers=h)) == ["al_x@other.test"]
    assert emails(client.get("/v1/admin/customers?past_due=true", headers=h)) == ["bob@acme.test"]
    assert emails(client.get("/v1/admin/customers?status=active", headers=h)) == ["alice@acme.test"]
    later = (clock.utcnow() + timedelta(days=1)).isoformat()
    assert emails(client.get("/v1/admin/customers", query_string={"created_from": later}, headers=h)) == []
    page = client.get("/v1/admin/customers?per_page=2&page=2", headers=h).json
    assert page["meta"]["total"] == db.session.scalar(select(func.count()).select_from(User))
    assert len(page["items"]) == 2


@pytest.mark.parametrize("query, field", [("status=nope", "status"), ("past_due=maybe", "past_due"),
                                          ("created_from=yesterday", "created_from"), ("per_page=1000", "per_page"),
                                          ("created_from=2026-02-01T00:00:00Z&created_to=2026-01-01T00:00:00Z",
                                           "created_to")])
def test_bad_filters_are_a_422_naming_the_field(client, admin, query, field):
    response = client.get(f"/v1/admin/customers?{query}", headers=admin[1])
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["query"], response.json


def test_detail_shows_profile_subscriptions_invoices_and_audit(client, admin, make_user):
    _, h = admin
    user, uh = make_user()
    sub = subscribe_and_pay(client, uh, user.id)
    client.patch(f"/v1/admin/customers/{user.id}", json={"external_id": "crm-1"}, headers=h)
    detail = client.get(f"/v1/admin/customers/{user.id}", headers=h)
    assert detail.status_code == 200, detail.json
    body = detail.json
    assert body["customer"]["email"] == user.email and body["customer"]["external_id"] == "crm-1"
    assert [s["id"] for s in body["subscriptions"]] == [sub["id"]]
    assert [(i["status"], i["amount_paid_cents"]) for i in body["invoices"]] == [("paid", 2900)]
    assert [(a["action"], a["after"]["external_id"]) for a in body["audit"]] == [("customer.updated", "crm-1")]
    client.post(f"/v1/admin/subscriptions/{sub['id']}/cancel", json={"at_period_end": True}, headers=h)
    trail = client.get(f"/v1/admin/customers/{user.id}", headers=h).json["audit"]
    assert [(a["action"], a["object_id"]) for a in trail] == [("subscription.cancel_at_period_end", sub["id"]),
                                                              ("customer.updated", str(user.id))]
    assert client.get("/v1/admin/customers/999999", headers=h).status_code == 404


def test_external_id_and_metadata_are_set_audited_and_unique(client, admin, make_user):
    admin_user, h = admin
    user, _ = make_user()
    other, _ = make_user()
    links = {"external_id": "crm-4711", "metadata": {"crm": "hubspot"}}
    done = client.patch(f"/v1/admin/customers/{user.id}", json=links, headers=h)
    assert done.status_code == 200 and done.json["metadata"] == {"crm": "hubspot"}, done.json
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "customer"))
    assert (event.actor_user_id, event.before, event.after) == (
        admin_user.id, {"external_id": None, "metadata": {}}, links)
    taken = client.patch(f"/v1/admin/customers/{other.id}", json={"external_id": "crm-4711"}, headers=h)
    assert taken.status_code == 422 and "external_id" in taken.json["errors"]["json"], taken.json
    assert db.session.get(User, other.id).external_id is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.object_type == "customer")) == 1


@pytest.mark.parametrize("body, field", [({"metadata": {"k": 1}}, "metadata"), ({"metadata": "x"}, "metadata"),
                                         ({"metadata": {"k" * 41: "v"}}, "metadata"), ({}, "external_id"),
                                         ({"external_id": ""}, "external_id"), ({"role": "admin"}, "role")])
def test_bad_links_are_a_422_naming_the_field_and_change_nothing(client, admin, make_user, body, field):
    user, _ = make_user()
    response = client.patch(f"/v1/admin/customers/{user.id}", json=body, headers=admin[1])
    assert response.status_code == 422 and field in response.json["errors"]["json"], response.json
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert (stored.role, stored.external_id, stored.metadata_) == ("user", None, {})


def test_detail_lists_transactions_from_the_payment_service(client, payment_client, admin, make_user):
    user, uh = make_user()
    txn = payment_client.post("/v1/payments/process", json={"amount_cents": 700, "currency": "USD",
                                                            "card": GOOD_CARD}, headers=uh)
    assert txn.status_code == 202, txn.json
    body = client.get(f"/v1/admin/customers/{user.id}", headers=admin[1]).json
    assert body["transactions"]["error"] is None
    assert [(t["id"], t["amount_cents"]) for t in body["transactions"]["items"]] == [(txn.json["id"], 700)]


def test_detail_still_answers_when_the_payment_service_is_down(client, admin, make_user, payment_down):
    user, _ = make_user()
    body = client.get(f"/v1/admin/customers/{user.id}", headers=admin[1]).json
    assert body["transactions"] == {"items": [], "error": "Payment service unavailable"}
    assert body["customer"]["id"] == user.id


def test_the_payment_service_lists_a_users_transactions_only_for_a_service_caller(payment_client, make_user,
                                                                                  service_headers):
    user, uh = make_user()
    path = f"/v1/payments/internal/users/{user.id}/transactions"
    assert payment_client.get(path, headers=uh).status_code == 403
    listed = payment_client.get(path, headers=service_headers)
    assert listed.status_code == 200 and listed.json["items"] == [], listed.json


def test_one_off_charge_of_the_saved_card_is_an_invoice_paid_by_its_payment(client, admin, make_user):
    admin_user, h = admin
    user, uh = make_user()
    sub = subscribe_and_pay(client, uh, user.id)
    key = {**h, "Idempotency-Key": "charge-1"}
    body = {"amount_cents": 5000, "currency": "USD", "reason": "Onboarding session"}
    charged = client.post(f"/v1/admin/customers/{user.id}/charges", json=body, headers=key)
    assert charged.status_code == 201, charged.json
    invoice = charged.json
    assert (invoice["reason"], invoice["status"], invoice["amount_due_cents"], invoice["subscription_id"]) == (
        "manual", "open", 5000, None)
    assert client.post(f"/v1/admin/customers/{user.id}/charges", json=body, headers=key).status_code == 201
    [request] = [r for r in charge_requests(client.application) if r["data"]["invoice_id"] == invoice["id"]]
    assert (request["data"]["payment_method_id"], request["data"]["amount_cents"]) == (sub["payment_method_id"], 5000)
    assert pay(client, invoice, user.id).json["processed"] is True
    paid = client.get(f"/v1/invoices/{invoice['id']}", headers=uh).json
    assert (paid["status"], paid["amount_paid_cents"]) == ("paid", 5000)
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=uh).json["status"] == "active"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.charge"))
    assert event.actor_user_id == admin_user.id and event.after["reason"] == "Onboarding session"


@pytest.mark.parametrize("body, field", [({"amount_cents": 0, "currency": "USD", "reason": "x"}, "amount_cents"),
                                         ({"amount_cents": "50", "currency": "USD", "reason": "x"}, "amount_cents"),
                                         ({"amount_cents": 50, "currency": "usd", "reason": "x"}, "currency"),
                                         ({"amount_cents": 50, "currency": "USD"}, "reason")])
def test_bad_charge_is_a_422_naming_the_field_and_writes_nothing(client, admin, make_user, body, field):
    user, uh = make_user()
    subscribe_and_pay(client, uh, user.id)
    response = client.post(f"/v1/admin/customers/{user.id}/charges", json=body, headers=admin[1])
    assert response.status_code == 422 and field in response.json["errors"]["json"], response.json
    assert db.session.scalar(select(func.count()).select_from(Invoice).where(Invoice.reason == "manual")) == 0


def test_a_customer_without_a_saved_card_cannot_be_charged(client, admin, make_user):
    user, _ = make_user()
    response = client.post(f"/v1/admin/customers/{user.id}/charges",
                           json={"amount_cents": 50, "currency": "USD", "reason": "x"}, headers=admin[1])
    assert response.status_code == 409 and "saved card" in response.json["message"]
    assert client.post("/v1/admin/customers/99999/charges", json={"amount_cents": 50, "currency": "USD",
                                                                  "reason": "x"}, headers=admin[1]).status_code == 404


def test_cursor_pages_walk_every_customer_once_newest_first_without_a_count(client, admin, make_user):
    _, h = admin
    for n in range(5):
        make_user(f"page{n}@acme.test")
    everyone = emails(client.get("/v1/admin/customers?per_page=100", headers=h))
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = client.get("/v1/admin/customers", query_string=query, headers=h)
        seen += emails(page)
        assert "meta" not in page.json  # a cursor page counts nothing
        cursor, pages = page.json["next_cursor"], pages + 1
        assert page.json["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == everyone and len(seen) == len(set(seen)) and pages == (len(everyone) + 1) // 2
    filtered = client.get("/v1/admin/customers", query_string={"limit": 2, "email_prefix": "page"}, headers=h).json
    rest = client.get("/v1/admin/customers", headers=h, query_string={
        "limit": 10, "email_prefix": "page", "starting_after": filtered["next_cursor"]})
    assert len(filtered["items"]) == 2 and len(emails(rest)) == 3 and rest.json["next_cursor"] is None
    assert {c["email"] for c in filtered["items"]} | set(emails(rest)) == {f"page{n}@acme.test" for n in range(5)}


@pytest.mark.parametrize("query, field", [("starting_after=bm90LWEtY3Vyc29y", "starting_after"),
                                          ("limit=0", "limit"), ("limit=2&page=1", "limit")])
def test_bad_cursor_arguments_are_a_422_naming_the_field(client, admin, query, field):
    response = client.get(f"/v1/admin/customers?{query}", headers=admin[1])
    assert response.status_code == 422 and field in response.json["errors"]["query"], response.json


def test_customers_csv_streams_the_filtered_list_with_formulas_defused(client, admin, make_user):
    _, h = admin
    first, _ = make_user("csv-a@acme.test")
    make_user("csv-b@acme.test")
    make_user("other@acme.test")
    client.patch(f"/v1/admin/customers/{first.id}", json={"external_id": "=HYPERLINK(1)",
                                                          "metadata": {"tier": "gold"}}, headers=h)
    response = client.get("/v1/admin/customers/export.csv?email_prefix=csv", headers=h)
    assert response.status_code == 200 and response.mimetype == "text/csv" and response.is_streamed
    assert "attachment; filename=customers.csv" == response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["id", "email", "external_id", "metadata", "role", "is_active", "created_at"]
    assert [r[1] for r in rows[1:]] == ["csv-a@acme.test", "csv-b@acme.test"]  # oldest first
    assert rows[1][2:6] == ["'=HYPERLINK(1)", '{"tier":"gold"}', "user", "True"]
    bad = client.get("/v1/admin/customers/export.csv?status=nope", headers=h)
    assert bad.status_code == 422 and "status" in bad.json["errors"]["query"]
    assert client.get("/v1/admin/customers/export.csv", headers=make_user()[1]).status_code == 403


def test_detail_shows_usage_this_period(client, admin, make_user):
    user, uh = make_user()
    subscribe_and_pay(client, uh, user.id)
    assert client.post("/v1/usage/features/api_calls/use", json={"delta": 7}, headers=uh).status_code == 200
    usage = client.get(f"/v1/admin/customers/{user.id}", headers=admin[1]).json["usage"]
    assert {f["feature"]: (f["used"], f["limit"]) for f in usage["features"]} == {
        "api_calls": (7, 10000), "exports": (0, 50), "reports": (0, 100)}
    sub = db.session.scalar(select(Subscription).where(Subscription.user_id == user.id))
    assert when(usage["period_start"]) == sub.current_period_start.replace(microsecond=0)  # usage counts whole seconds
    idle, _ = make_user()
    assert client.get(f"/v1/admin/customers/{idle.id}", headers=admin[1]).json["usage"] is None
