"""The admin UI's subscription and invoice actions, customer cursor pages, CSV and usage (issue #15)."""
import csv
import io
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.admin_ui import customers as customers_page
from subscription_app.admin_ui import subscriptions as subscriptions_page
from subscription_app.catalog import audit, plans
from subscription_app.catalog.models import AuditEvent
from subscription_app.discounts import balance
from subscription_app.models import CreditNote, Invoice, Plan, Subscription
from subscription_app.seed import BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID, PRO_MONTHLY_ID, PRO_TRIAL_ID
from tests.support.admin_ui import log_in
from tests.support.billing_support import GOOD_CARD, subscribe_and_pay, when

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', html) or \
        re.search(rf'value="([^"]*)"[^>]*name="{re.escape(name)}"', html)
    assert match, f"{name} not in the page"
    return match.group(1)


def act(ui, page: str, path: str, prefix: str, data: dict | None = None, html: str | None = None):
    """Post the page's `prefix` form as a browser would: its own CSRF token and idempotency key."""
    html = html or ui.get(page).get_data(as_text=True)
    fields = {f"{prefix}-csrf_token": hidden(html, f"{prefix}-csrf_token")}
    if f'name="{prefix}-idempotency_key"' in html:
        fields[f"{prefix}-idempotency_key"] = hidden(html, f"{prefix}-idempotency_key")
    return ui.post(path, data={**fields, **{f"{prefix}-{k}": v for k, v in (data or {}).items()}})


def audited(object_id) -> list[tuple]:
    return [(e.action, e.source) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == str(object_id)).order_by(AuditEvent.id))]


@pytest.fixture
def signed_in(ui, admin):  # noqa: F811 - the fixtures imported above
    log_in(ui)
    return ui


@pytest.fixture
def paying(client, seeded, make_user):
    user, h = make_user("payer@acme.test")
    return user, subscribe_and_pay(client, h, user.id)


def sub_page(sub) -> str:
    return f"/admin/subscriptions/{sub['id']}"


def test_the_list_filters_by_status_plan_and_email_on_cursor_pages(signed_in, client, paying, make_user,
                                                                   monkeypatch):
    _, pro = paying
    bob, bh = make_user("bob@acme.test")
    basic = subscribe_and_pay(client, bh, bob.id, plan_id=BASIC_MONTHLY_ID)
    listed = signed_in.get(f"/admin/subscriptions?status=active&plan={PRO_MONTHLY_ID}").get_data(as_text=True)
    assert pro["id"] in listed and basic["id"] not in listed
    by_email = signed_in.get("/admin/subscriptions?email=BOB").get_data(as_text=True)
    assert basic["id"] in by_email and pro["id"] not in by_email and "bob@acme.test" in by_email
    assert pro["id"] not in signed_in.get("/admin/subscriptions?status=canceled").get_data(as_text=True)
    monkeypatch.setattr(subscriptions_page, "LIMIT", 1)
    first = signed_in.get("/admin/subscriptions").get_data(as_text=True)
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = signed_in.get(next_url).get_data(as_text=True)
    assert {basic["id"], pro["id"]} == {i for i in (basic["id"], pro["id"]) if i in first + second}
    assert (basic["id"] in first) != (basic["id"] in second)
    assert 'rel="next"' not in second
    assert signed_in.get("/admin/subscriptions?after=garbage").status_code == 422


def test_the_page_shows_what_the_subscription_pays_not_the_plans_new_price(signed_in, paying):
    _, sub = paying
    plans.new_price(db.session.get(Plan, PRO_MONTHLY_ID), 3900, audit.CLI)
    db.session.commit()
    shown = signed_in.get(sub_page(sub)).get_data(as_text=True)
    plan_line = re.search(r'id="plan-name">([^<]*)', shown).group(1)
    assert "pays 29.00 USD per" in plan_line and "current price is 39.00 USD" in plan_line, plan_line


def test_cancel_at_period_end_then_uncancel(signed_in, paying):
    _, sub = paying
    page = sub_page(sub)
    done = act(signed_in, page, page + "/cancel", "cancel", {"at_period_end": "Cancel at period end"})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert "cancels at the period end" in signed_in.get(page).get_data(as_text=True)
    assert act(signed_in, page, page + "/resume", "resume", {"submit": "Un-cancel"}).status_code == 302
    row = db.session.get(Subscription, uuid.UUID(sub["id"]))
    db.session.refresh(row)
    assert row.cancel_at_period_end is False and row.status == "active"
    assert audited(sub["id"]) == [("subscription.cancel_at_period_end", "admin-ui"),
                                  ("subscription.resume", "admin-ui")]


def test_a_double_submitted_cancel_acts_once_and_a_new_one_is_refused(signed_in, paying):
    _, sub = paying
    page = sub_page(sub)
    html = signed_in.get(page).get_data(as_text=True)
    first = act(signed_in, page, page + "/cancel", "cancel", {"now": "Cancel now"}, html=html)
    again = act(signed_in, page, page + "/cancel", "cancel", {"now": "Cancel now"}, html=html)
    assert first.status_code == again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert audited(sub["id"]) == [("subscription.cancel", "admin-ui")]
    assert db.session.get(Subscription, uuid.UUID(sub["id"])).status == "canceled"
    missing = signed_in.post(page + "/cancel", data={"cancel-now": "Cancel now"})
    assert missing.status_code == 400  # no CSRF token: refused before anything runs


def test_change_plan_full_price_now_bills_the_whole_new_price(signed_in, paying):
    _, sub = paying
    page = sub_page(sub)
    html = signed_in.get(page).get_data(as_text=True)
    assert all(f'value="{mode}"' in html for mode in ("create_prorations", "none", "full_price_now"))
    assert '<label for="plan-proration">Proration</label>' in html  # labelled, and apart from the other forms
    unknown = act(signed_in, page, page + "/plan", "plan", {"plan_id": str(uuid.uuid4()), "proration": "none"})
    assert unknown.status_code == 422 and 'id="plan-plan_id-error"' in unknown.get_data(as_text=True)
    done = act(signed_in, page, page + "/plan", "plan", {"plan_id": str(ENTERPRISE_MONTHLY_ID),
                                                         "proration": "full_price_now"}, html=html)
    assert done.status_code == 302, done.get_data(as_text=True)
    invoice = db.session.scalar(select(Invoice).where(Invoice.subscription_id == uuid.UUID(sub["id"]),
                                                      Invoice.reason == "subscription_update"))
    assert (invoice.status, invoice.amount_due_cents) == ("open", 9900)
    assert "A plan change is waiting for its payment" in signed_in.get(page).get_data(as_text=True)
    assert audited(sub["id"]) == [("subscription.change_plan.full_price_now", "admin-ui")]


def test_extend_a_trial_and_a_bad_date_names_the_field(signed_in, client, make_user):
    _, h = make_user()
    trial = client.post("/v1/subscriptions/trial", json={"trial_plan_id": str(PRO_TRIAL_ID), "card": GOOD_CARD},
                        headers=h).json
    page = sub_page(trial)
    later = (when(trial["trial_end"]) + timedelta(days=7)).replace(second=0, microsecond=0)
    done = act(signed_in, page, page + "/trial", "trial", {"trial_end": later.strftime("%Y-%m-%dT%H:%M")})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert db.session.get(Subscription, uuid.UUID(trial["id"])).trial_end == later
    early = act(signed_in, page, page + "/trial", "trial", {"trial_end": clock.utcnow().strftime("%Y-%m-%dT%H:%M")})
    assert early.status_code == 422 and 'id="trial-trial_end-error"' in early.get_data(as_text=True)
    assert audited(trial["id"]) == [("subscription.extend_trial", "admin-ui")]


def open_invoice(client, make_user) -> str:
    _, h = make_user()
    return client.post("/v1/subscriptions", json={"plan_id": str(BASIC_MONTHLY_ID)}, headers=h).json[
        "latest_invoice"]["id"]


@pytest.mark.parametrize("prefix, status", [("void", "void"), ("uncollectible", "uncollectible")])
def test_void_or_mark_uncollectible_an_open_invoice(signed_in, client, seeded, make_user, prefix, status):
    invoice_id = open_invoice(client, make_user)
    page = f"/admin/invoices/{invoice_id}"
    done = act(signed_in, page, f"{page}/{prefix}", prefix, {"submit": "go"})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert db.session.get(Invoice, uuid.UUID(invoice_id)).status == status
    assert audited(invoice_id) == [(f"invoice.{status}", "admin-ui")]
    assert f'name="{prefix}-submit"' not in signed_in.get(page).get_data(as_text=True)  # closed: no more buttons


def test_a_credit_note_without_refund_goes_to_the_balance(signed_in, paying):
    user, sub = paying
    invoice_id = sub["latest_invoice"]["id"]
    page = f"/admin/invoices/{invoice_id}"
    too_much = act(signed_in, page, page + "/credit-note", "credit", {"amount_cents": "2901", "reason": "x"})
    assert too_much.status_code == 422 and 'id="credit-amount_cents-error"' in too_much.get_data(as_text=True)
    part = act(signed_in, page, page + "/credit-note", "credit", {"amount_cents": "1000", "reason": "outage"})
    assert part.status_code == 302, part.get_data(as_text=True)
    rest = act(signed_in, page, page + "/credit-note", "credit", {"reason": "goodwill"})
    assert rest.status_code == 302, rest.get_data(as_text=True)
    notes = db.session.scalars(select(CreditNote).where(CreditNote.invoice_id == uuid.UUID(invoice_id))
                               .order_by(CreditNote.number)).all()
    assert [(n.amount_cents, n.refund_id) for n in notes] == [(1000, None), (1900, None)]
    assert balance.credit_held(user.id, "USD") == 2900
    html = signed_in.get(page).get_data(as_text=True)
    assert 'name="credit-reason"' not in html and "29.00 USD" in html  # nothing left to credit
    assert audited(invoice_id) == [("credit_note.created", "admin-ui")] * 2


def test_customers_on_cursor_pages_with_a_csv_of_the_same_filters(signed_in, seeded, make_user, monkeypatch):
    for n in range(3):
        make_user(f"page{n}@acme.test")
    monkeypatch.setattr(customers_page, "LIMIT", 2)
    first = signed_in.get("/admin/customers?q=page").get_data(as_text=True)
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = signed_in.get(next_url).get_data(as_text=True)
    shown = re.findall(r"page\d@acme.test", first) + re.findall(r"page\d@acme.test", second)
    assert sorted(shown) == [f"page{n}@acme.test" for n in range(3)] and 'rel="next"' not in second
    export = re.search(r'href="([^"]+)" download', first).group(1).replace("&amp;", "&")
    response = signed_in.get(export)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert [r[1] for r in rows[1:]] == [f"page{n}@acme.test" for n in range(3)]


def test_customer_detail_shows_usage_this_period(signed_in, client, seeded, make_user):
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id)
    assert client.post("/v1/usage/features/api_calls/use", json={"delta": 3}, headers=h).status_code == 200
    html = signed_in.get(f"/admin/customers/{user.id}").get_data(as_text=True)
    assert re.search(r'<th scope="row">api_calls</th><td>3</td><td>10000</td><td>0.0</td>', html), html
    assert f'href="/admin/subscriptions/{sub["id"]}"' in html
    idle, _ = make_user()
    assert "No entitled subscription" in signed_in.get(f"/admin/customers/{idle.id}").get_data(as_text=True)
