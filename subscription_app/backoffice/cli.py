"""`flask customers list|show`, `flask invoices void|credit-note`, `flask subscriptions change-plan`.

Each command calls the same backoffice function as the admin API, audits as source `cli` and
commits; a refused input prints the API's message naming the field, exits 1 and writes nothing.
"""
from __future__ import annotations

import uuid

import click
from flask import Flask
from flask.cli import AppGroup

from core.errors import ApiError
from core.money import format_money
from subscription_app.admin_cli import subscriptions_cli
from subscription_app.backoffice import customers, invoices_admin, subscriptions_admin
from subscription_app.backoffice.schemas import ADMIN_PRORATION_MODES
from subscription_app.catalog import audit
from subscription_app.catalog.cli import committed
from subscription_app.models import SUBSCRIPTION_STATUSES

customers_cli = AppGroup("customers", help="Find and inspect customers.")
invoices_cli = AppGroup("invoices", help="Void invoices and issue credit notes.")


@customers_cli.command("list")
@click.option("--email-prefix", help="Emails starting with this (case-insensitive).")
@click.option("--status", type=click.Choice(SUBSCRIPTION_STATUSES), help="With a subscription in this status.")
@click.option("--past-due", is_flag=True, default=None, help="Only customers with a past-due subscription.")
@click.option("--limit", type=click.IntRange(1, 100), help="A cursor page of this many (no count), as the API's.")
@click.option("--starting-after", help="The cursor the previous cursor page printed.")
@click.option("--page", type=click.IntRange(min=1), help="An offset page (counts every row)  [default: 1]")
@click.option("--per-page", type=click.IntRange(1, 100), help="Offset page size  [default: 20]")
def list_command(email_prefix, status, past_due, limit, starting_after, page, per_page):
    """Customers, newest first: id, email, external id. Cursor pages with --limit/--starting-after."""
    cursor = limit is not None or starting_after is not None
    if cursor and (page is not None or per_page is not None):
        raise click.ClickException("--limit and --starting-after cannot be combined with --page or --per-page")
    paging = ({"limit": limit or 20, **({"starting_after": starting_after} if starting_after else {})} if cursor
              else {"page": page or 1, "per_page": per_page or 20})
    try:
        result = customers.search(paging, email_prefix=email_prefix, status=status, past_due=past_due)
    except ApiError as exc:
        fields = ", ".join(f"--{f.replace('_', '-')}" for f in (exc.errors or {}).get("query", {}))
        named = f" (field: {fields})" if fields else ""
        raise click.ClickException(f"{exc.message}: {_first_error(exc)}{named}") from None
    for user in result["items"]:
        click.echo(f"{user.id}\t{user.email}\t{user.external_id or '-'}")
    if not cursor:
        click.echo(f"page {paging['page']} of {result['meta']['pages']} ({result['meta']['total']} customers)")
    elif result["next_cursor"]:
        click.echo(f"more: --starting-after {result['next_cursor']}")
    else:
        click.echo("last page")


def _first_error(exc: ApiError) -> str:
    messages = [m for errors in (exc.errors or {}).values() for ms in errors.values() for m in ms]
    return messages[0] if messages else ""


@customers_cli.command("show")
@click.argument("customer")
@committed
def show_command(customer):
    """One customer (by id, email or external id): subscriptions, invoices, credit notes."""
    data = customers.detail(customers.find_customer(customer).id)
    user = data["customer"]
    click.echo(f"customer {user.id} {user.email} external_id={user.external_id or '-'} metadata={user.metadata_}")
    for sub in data["subscriptions"]:
        click.echo(f"subscription {sub.id} {sub.status} period ends {sub.current_period_end:%Y-%m-%d}")
    for inv in data["invoices"]:
        click.echo(f"invoice #{inv.number} {inv.id} {inv.status} {inv.reason} "
                   f"due {format_money(inv.amount_due_cents, inv.currency)} "
                   f"paid {format_money(inv.amount_paid_cents, inv.currency)}")
    for note in data["credit_notes"]:
        click.echo(f"credit note {note.display_number} {format_money(note.amount_cents, note.currency)} "
                   f"{note.reason or ''}".rstrip())


@invoices_cli.command("void")
@click.argument("invoice_id", type=click.UUID)
@committed
def void_command(invoice_id: uuid.UUID):
    """Void an open invoice: the customer no longer owes it."""
    invoice = invoices_admin.void(invoice_id, audit.CLI)
    click.echo(f"invoice #{invoice.number} is void")


@invoices_cli.command("credit-note")
@click.argument("invoice_id", type=click.UUID)
@click.option("--reason", required=True, help="Why, shown on the credit note.")
@click.option("--amount", "amount_cents", type=int, help="Minor units; the whole creditable amount if left out.")
@click.option("--refund", is_flag=True, help="Refund the payment too; the credit note follows the refund.")
@committed
def credit_note_command(invoice_id: uuid.UUID, reason: str, amount_cents: int | None, refund: bool):
    """A credit note on a paid invoice: without a refund, or (--refund) by refunding its payment."""
    if refund:
        asked = invoices_admin.refund(invoice_id, amount_cents, reason, audit.CLI)
        click.echo(f"refund of {format_money(asked['amount_cents'], asked['currency'])} requested "
                   f"({asked['request_id']}); its credit note follows when it succeeds")
        return
    note = invoices_admin.credit_note(invoice_id, amount_cents, reason, audit.CLI)
    click.echo(f"credit note {note.display_number} of {format_money(note.amount_cents, note.currency)}")


@subscriptions_cli.command("change-plan")
@click.argument("subscription_id", type=click.UUID)
@click.argument("plan_id", type=click.UUID)
@click.option("--proration", type=click.Choice(ADMIN_PRORATION_MODES), default="create_prorations",
              show_default=True, help="full_price_now: the new plan's whole price now, a new period from the payment.")
@committed
def change_plan_command(subscription_id: uuid.UUID, plan_id: uuid.UUID, proration: str):
    """Move a subscription to another plan, billed as the admin API's POST .../plan with the same proration."""
    sub = subscriptions_admin.change_plan(subscription_id, plan_id, proration, audit.CLI)
    click.echo(f"subscription {sub.id}: plan {sub.plan_id}, pending {sub.pending_plan_id or '-'}")
    invoice = sub.latest_invoice
    if invoice is not None:
        click.echo(f"latest invoice #{invoice.number} {invoice.reason} {invoice.status} "
                   f"due {format_money(invoice.amount_due_cents, invoice.currency)}")


def register(app: Flask) -> None:
    app.cli.add_command(customers_cli)
    app.cli.add_command(invoices_cli)
