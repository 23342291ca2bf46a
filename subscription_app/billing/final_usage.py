"""The usage of a subscription's last period (docs/usage-billing.md, "The last period").

Usage is billed in arrears, so a subscription that ends still owes its last period's usage:
canceled at period end, it is invoiced when the period ends (as Stripe does for metered
prices); canceled now, the period is closed at that moment and invoiced at once. The invoice
(reason `subscription_final`) carries only usage lines: there is no next period to charge.
"""
from __future__ import annotations

from datetime import datetime

from core.extensions import db
from subscription_app.billing import invoices
from subscription_app.catalog import prices
from subscription_app.models import Invoice, InvoiceLine, Plan, Subscription
from subscription_app.usage import arrears

# Usage in these states was paid for; a trial's usage (and an unpaid start's) is free.
BILLED_STATUSES = ("active", "past_due", "paused")


def close_usage(sub: Subscription, end: datetime) -> list[InvoiceLine]:
    """Close the current period's usage at `end` and price it with the plan in force (no lines if free)."""
    if sub.status not in BILLED_STATUSES:
        return []
    plan = db.session.get(Plan, sub.plan_id)
    currency = prices.price_of(sub, plan).currency
    return arrears.close_period(sub.user_id, sub.plan_id, sub.current_period_start, end, currency)


def final_invoice(sub: Subscription, lines: list[InvoiceLine], end: datetime, now: datetime) -> Invoice | None:
    """The ended subscription's last invoice for `lines` (from close_usage, taken before it ended), charged."""
    if not lines:
        return None
    invoice = invoices.with_balance(sub, "subscription_final", lines[0].currency, lines, sub.current_period_start,
                                    end, now)
    if invoice.status == "open" and sub.payment_method_id is not None:
        invoices.request_charge(invoice, sub, "Usage of the last period")
    return invoice
