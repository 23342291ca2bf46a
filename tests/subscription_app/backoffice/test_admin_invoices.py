"""The operator's invoices over /v1/admin/invoices: filters, CSV, void, uncollectible, credit notes (issue #15)."""
import csv
import io
import uuid

import pytest
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.models import CreditNote, Invoice
from tests.support.billing_support import subscribe_and_pay

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")


@pytest.fixture
def open_and_paid(client, admin, make_user):
    """(open invoice id, paid invoice id, payer id): one customer who never paid, one who did."""
    unpaid_user, uh = make_user()
    opened = client.post("/v1/subscriptions", json={"plan_id": "550e8400-e29b-41d4-a716-446655440002"}, headers=uh)
    payer, ph = make_user()
    paid = subscribe_and_pay(client, ph, payer.id)
    return opened.json["latest_invoice"]["id"], paid["latest_invoice"]["id"], payer.id


def audit_actions(object_id) -> list[str]:
    return db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(object_id))
                              .order_by(AuditEvent.id)).all()


def test_non_admins_get_403(client, open_and_paid, make_user):
    _, h = make_user()
    opened, paid, _ = open_and_paid
    for url in ("/v1/admin/invoices", "/v1/admin/invoices/export.csv"):
        assert client.get(url, headers=h).status_code == 403
    for url in (f"/v1/admin/invoices/{opened}/void", f"/v1/admin/invoices/{opened}/mark-uncollectible",
                f"/v1/admin/invoices/{paid}/credit-notes"):
        assert client.post(url, json={"reason": "x"}, headers=h).status_code == 403
    assert db.session.get(Invoice, uuid.UUID(opened)).status == "open"


def test_list_filters_by_status_customer_and_reason(client, admin, open_and_paid):
    _, h = admin
    opened, paid, payer = open_and_paid

    def ids(**query):
        return [i["id"] for i in client.get("/v1/admin/invoices", query_string=query, headers=h).json["items"]]

    assert ids() == [paid, opened]
    assert ids(status="open") == [opened]
    assert ids(customer_id=payer) == [paid]
    assert ids(reason="subscription_cycle") == []
    bad = client.get("/v1/admin/invoices?status=lost", headers=h)
    assert bad.status_code == 422 and "status" in bad.json["errors"]["query"]


def test_export_csv_has_a_header_and_one_row_per_invoice(client, admin, open_and_paid):
    opened, paid, _ = open_and_paid
    response = client.get("/v1/admin/invoices/export.csv", headers=admin[1])
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["id"], r["status"], r["amount_paid_cents"]) for r in rows] == [(opened, "open", "0"),
                                                                              (paid, "paid", "2900")]


def test_void_an_open_invoice_once_audited_and_idempotent(client, admin, open_and_paid):
    _, h = admin
    opened, paid, _ = open_and_paid
    key = {**h, "Idempotency-Key": "void-1"}
    first = client.post(f"/v1/admin/invoices/{opened}/void", headers=key)
    assert first.status_code == 200 and first.json["status"] == "void" and first.json["voided_at"], first.json
    replay = client.post(f"/v1/admin/invoices/{opened}/void", headers=key)
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert audit_actions(opened) == ["invoice.void"]
    again = client.post(f"/v1/admin/invoices/{opened}/void", headers=h)
    assert again.status_code == 409 and "open" in again.json["message"]
    assert client.post(f"/v1/admin/invoices/{paid}/void", headers=h).status_code == 409
    assert client.post(f"/v1/admin/invoices/{uuid.uuid4()}/void", headers=h).status_code == 404


def test_mark_uncollectible_only_an_open_invoice(client, admin, open_and_paid):
    _, h = admin
    opened, paid, _ = open_and_paid
    done = client.post(f"/v1/admin/invoices/{opened}/mark-uncollectible", headers=h)
    assert done.status_code == 200 and done.json["status"] == "uncollectible", done.json
    assert audit_actions(opened) == ["invoice.uncollectible"]
    assert client.post(f"/v1/admin/invoices/{paid}/mark-uncollectible", headers=h).status_code == 409


def test_credit_notes_without_refund_partial_then_the_rest(client, admin, open_and_paid, make_user):
    _, h = admin
    _, paid, payer = open_and_paid
    url = f"/v1/admin/invoices/{paid}/credit-notes"
    part = client.post(url, json={"amount_cents": 900, "reason": "outage"}, headers=h)
    assert part.status_code == 201, part.json
    assert (part.json["amount_cents"], part.json["refund_id"], part.json["transaction_id"]) == (900, None, None)
    assert [(line["kind"], line["amount_cents"]) for line in part.json["lines"]] == [("credit_to_balance", 900)]
    too_much = client.post(url, json={"amount_cents": 2001, "reason": "again"}, headers=h)
    assert too_much.status_code == 422 and "amount_cents" in too_much.json["errors"]["json"], too_much.json
    rest = client.post(url, json={"reason": "goodwill"}, headers=h)
    assert rest.status_code == 201 and rest.json["amount_cents"] == 2000, rest.json
    assert client.post(url, json={"reason": "more"}, headers=h).status_code == 422
    invoice = db.session.get(Invoice, uuid.UUID(paid))
    assert (invoice.amount_paid_cents, invoice.amount_refunded_cents) == (2900, 0)
    assert audit_actions(paid) == ["credit_note.created", "credit_note.created"]
    assert client.get("/v1/credit-notes", headers=make_user()[1]).json["items"] == []


@pytest.mark.parametrize("body, field", [({"amount_cents": 0, "reason": "x"}, "amount_cents"),
                                         ({"amount_cents": "5", "reason": "x"}, "amount_cents"),
                                         ({"amount_cents": 2**63, "reason": "x"}, "amount_cents"),
                                         ({"amount_cents": 5}, "reason"), ({"reason": ""}, "reason"),
                                         ({"reason": "x", "refund_id": "r"}, "refund_id")])
def test_bad_credit_note_is_a_422_naming_the_field_and_writes_nothing(client, admin, open_and_paid, body, field):
    _, paid, _ = open_and_paid
    response = client.post(f"/v1/admin/invoices/{paid}/credit-notes", json=body, headers=admin[1])
    assert response.status_code == 422 and field in response.json["errors"]["json"], response.json
    assert db.session.scalar(select(func.count()).select_from(CreditNote)) == 0


def test_an_open_invoice_cannot_be_credited(client, admin, open_and_paid):
    opened, _, _ = open_and_paid
    response = client.post(f"/v1/admin/invoices/{opened}/credit-notes", json={"reason": "x"}, headers=admin[1])
    assert response.status_code == 409 and "paid" in response.json["message"]


@pytest.mark.payment
def test_refund_through_the_payment_service_then_its_credit_note(world, client, admin):  # noqa: F811
    _, h = admin
    customer = world.user("refund-me@example.com")
    sub = world.subscribe(customer)
    world.run()
    [txn] = world.transactions(customer)
    url = f"/v1/admin/invoices/{txn['invoice_id']}/refunds"
    too_much = client.post(url, json={"amount_cents": 2901, "reason": "goodwill"}, headers=h)
    assert too_much.status_code == 422 and "amount_cents" in too_much.json["errors"]["json"]
    asked = client.post(url, json={"amount_cents": 1000, "reason": "goodwill"}, headers=h)
    assert asked.status_code == 202 and asked.json["transaction_id"] == txn["id"], asked.json
    world.run()
    invoice = client.get(f"/v1/invoices/{txn['invoice_id']}", headers=customer).json
    assert invoice["amount_refunded_cents"] == 1000
    [note] = invoice["credit_notes"]
    assert note["refund_id"] and (note["amount_cents"], note["reason"]) == (1000, "goodwill")
    assert world.sub(customer, sub["id"])["status"] == "active"  # a partial refund keeps the subscription
    assert audit_actions(txn["invoice_id"]) == ["invoice.refund_requested"]
