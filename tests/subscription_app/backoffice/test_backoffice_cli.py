"""`flask customers list|show`, `flask invoices void|credit-note`, `flask subscriptions change-plan`: the admin
API's functions, audited as cli."""
import uuid

import pytest
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.catalog.models import AuditEvent
from subscription_app.models import CreditNote, Invoice, Subscription
from subscription_app.seed import BASIC_MONTHLY_ID, ENTERPRISE_MONTHLY_ID
from tests.support.billing_support import refund_requests, subscribe_and_pay

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def cli(app, seeded):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


@pytest.fixture
def payer(client, seeded, make_user):
    user, h = make_user("payer@acme.test")
    return user, subscribe_and_pay(client, h, user.id)


@pytest.mark.parametrize("group, command", [("customers", "list"), ("customers", "show"), ("invoices", "void"),
                                            ("invoices", "credit-note"), ("subscriptions", "change-plan")])
def test_every_command_has_help(cli, group, command):
    result = cli(group, command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output, result.output


def test_list_and_show_a_customer(cli, payer):
    user, sub = payer
    listed = cli("customers", "list", "--email-prefix", "PAYER")
    assert listed.exit_code == 0 and f"{user.id}\tpayer@acme.test\t-" in listed.output, listed.output
    assert "(1 customers)" in listed.output
    shown = cli("customers", "show", "payer@acme.test")
    assert shown.exit_code == 0, shown.output
    assert f"subscription {sub['id']} active" in shown.output and "paid 29.00 USD" in shown.output
    assert cli("customers", "show", str(user.id)).output == shown.output
    missing = cli("customers", "show", "nobody@acme.test")
    assert missing.exit_code == 1 and "Customer not found" in missing.output


def test_void_an_open_invoice_audited_as_cli(cli, client, make_user):
    user, h = make_user()
    invoice_id = client.post("/v1/subscriptions", json={"plan_id": str(BASIC_MONTHLY_ID)},
                             headers=h).json["latest_invoice"]["id"]
    done = cli("invoices", "void", invoice_id)
    assert done.exit_code == 0 and "is void" in done.output, done.output
    assert db.session.get(Invoice, uuid.UUID(invoice_id)).status == "void"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_id == invoice_id))
    assert (event.source, event.action, event.actor_user_id) == ("cli", "invoice.void", None)
    again = cli("invoices", "void", invoice_id)
    assert again.exit_code == 1 and "Only an open invoice" in again.output


def test_credit_note_partial_and_a_refused_amount_writes_nothing(cli, payer):
    _, sub = payer
    invoice_id = sub["latest_invoice"]["id"]
    refused = cli("invoices", "credit-note", invoice_id, "--reason", "outage", "--amount", "2901")
    assert refused.exit_code == 1 and "(field: amount_cents)" in refused.output, refused.output
    assert db.session.scalar(select(func.count()).select_from(CreditNote)) == 0
    done = cli("invoices", "credit-note", invoice_id, "--reason", "outage", "--amount", "500")
    assert done.exit_code == 0 and "of 5.00 USD" in done.output, done.output
    note = db.session.scalar(select(CreditNote))
    assert (note.amount_cents, note.refund_id, note.reason) == (500, None, "outage")
    missing = cli("invoices", "credit-note", "not-a-uuid", "--reason", "x")
    assert missing.exit_code == 2 and "INVOICE_ID" in missing.output


def test_credit_note_with_refund_asks_the_payment_service(cli, payer, app):
    _, sub = payer
    invoice = sub["latest_invoice"]
    done = cli("invoices", "credit-note", invoice["id"], "--reason", "goodwill", "--amount", "700", "--refund")
    assert done.exit_code == 0 and "refund of 7.00 USD requested" in done.output, done.output
    [asked] = refund_requests(app)
    assert (asked["data"]["transaction_id"], asked["data"]["amount_cents"]) == (invoice["transaction_id"], 700)
    assert db.session.scalar(select(func.count()).select_from(CreditNote)) == 0  # written when it succeeds


def test_change_plan_at_full_price_now_from_the_shell(cli, payer):
    _, sub = payer
    bad = cli("subscriptions", "change-plan", sub["id"], str(ENTERPRISE_MONTHLY_ID), "--proration", "full")
    assert bad.exit_code == 2 and "--proration" in bad.output
    done = cli("subscriptions", "change-plan", sub["id"], str(ENTERPRISE_MONTHLY_ID), "--proration", "full_price_now")
    assert done.exit_code == 0, done.output
    assert "subscription_update open due 99.00 USD" in done.output
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_id == sub["id"]))
    assert (event.source, event.action) == ("cli", "subscription.change_plan.full_price_now")
    again = cli("subscriptions", "change-plan", sub["id"], str(BASIC_MONTHLY_ID), "--proration", "full_price_now")
    assert again.exit_code == 1 and "waiting for payment" in again.output
    assert db.session.get(Subscription, uuid.UUID(sub["id"])).plan_id != ENTERPRISE_MONTHLY_ID  # until paid


def test_list_pages_by_cursor_like_the_api(cli, client, make_user):
    ids = [make_user(f"cursor{n}@acme.test")[0].id for n in range(5)]
    first = cli("customers", "list", "--email-prefix", "cursor", "--limit", "2")
    assert first.exit_code == 0, first.output
    rows = [line.split("\t")[0] for line in first.output.splitlines() if "\t" in line]
    assert rows == [str(i) for i in ids[::-1][:2]]  # newest first, as GET /v1/admin/customers
    cursor = first.output.split("--starting-after ")[1].split()[0]
    seen = list(rows)
    while cursor:
        page = cli("customers", "list", "--email-prefix", "cursor", "--limit", "2", "--starting-after", cursor)
        assert page.exit_code == 0, page.output
        seen += [line.split("\t")[0] for line in page.output.splitlines() if "\t" in line]
        cursor = page.output.split("--starting-after ")[1].split()[0] if "--starting-after " in page.output else None
    assert seen == [str(i) for i in ids[::-1]] and "last page" in page.output
    bad = cli("customers", "list", "--starting-after", "not-a-cursor")
    assert bad.exit_code == 1 and "starting-after" in bad.output and "next_cursor" in bad.output, bad.output
    mixed = cli("customers", "list", "--limit", "2", "--page", "2")
    assert mixed.exit_code == 1 and "--limit" in mixed.output and "--page" in mixed.output, mixed.output
    assert cli("customers", "list", "--limit", "0").exit_code == 2  # out of range: Click's usage error
