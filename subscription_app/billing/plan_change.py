"""Plan changes: an upgrade is charged now, prorated; a downgrade waits for the period end.

A change to another billing interval (month -> year, month x1 -> month x3) starts a new
cycle, as Stripe does when the interval changes: the unused time of the old plan is
credited and the new plan's full price charged (billing/proration.py); once that invoice is
paid, the new plan's period and billing cycle anchor start at that moment. If the credit
is worth the new price or more, the invoice is zero, the change applies at once and the
excess goes to the customer balance (docs/credit-balance.md). The credit is priced when the
change is asked for, so an interval change not paid within INCOMPLETE_EXPIRY_HOURS (23 h,
like Stripe's pending updates) lapses (renewals.run_lapsed_changes): paid days later, it
would give the time in between for free.

Decision: an upgrade switches the plan when its proration invoice is PAID (the
payment.succeeded event applies it, billing/events.py), never before, so nobody gets a
better plan for a charge that then fails. A failed upgrade charge voids that invoice and
leaves the subscription as it was, scheduled downgrade included (only a paid upgrade
replaces it); the user may ask again. While an upgrade invoice is
open, other plan changes answer 409. An open upgrade invoice still unpaid when the
period ends is voided by the renewal (the proration was for that period only). An upgrade
paid when the subscription can no longer take it is refunded, not applied.
"""
from __future__ import annotations

import logging
import uuid

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app import integrations
from subscription_app.billing import invoices, quotes, trial_changes
from subscription_app.billing.lifecycle import is_trial_plan, load_plan, owned_subscription, with_latest_invoice
from subscription_app.billing.change_pricing import price_change
from subscription_app.billing.periods import plan_period_end, same_cycle
from subscription_app.catalog import prices
from subscription_app.discounts import apply as discounts
from subscription_app.discounts import balance
from subscription_app.models import InvoiceLine, Plan, Subscription

log = logging.getLogger(__name__)


def checked_change(sub: Subscription, plan_id: uuid.UUID) -> tuple[Plan, Plan]:
    """(current plan, new plan) of an allowed change; 409/422 otherwise."""
    if not sub.is_live:
        raise ApiError(409, f"Subscription is {sub.status}; start a new one instead")
    if sub.status != "active":
        raise ApiError(409, f"The plan of a {sub.status} subscription cannot be changed; it must be active")
    new = load_plan(plan_id)
    if is_trial_plan(new):
        raise ApiError(422, "Cannot change to a trial plan", errors={"json": {"plan_id": ["Trial plan."]}})
    if new.id == sub.plan_id:
        raise ApiError(422, "The subscription is already on this plan",
                       errors={"json": {"plan_id": ["Same as the current plan."]}})
    old = db.session.get(Plan, sub.plan_id)
    if new.currency != old.currency:
        raise ApiError(422, "The new plan is billed in another currency",
                       errors={"json": {"plan_id": [f"Plan currency {new.currency} differs from {old.currency}."]}})
    if invoices.open_invoice(sub, "subscription_update") is not None:
        raise ApiError(409, "An upgrade is waiting for payment; pay or wait for it first")
    return old, new


def preview(user_id: int, subscription_id: uuid.UUID, plan_id: uuid.UUID, proration: str) -> dict:
    sub = owned_subscription(user_id, subscription_id)
    old, new = checked_change(sub, plan_id)
    return quotes.store(sub, old, new, proration)


def change_plan(user_id: int, subscription_id: uuid.UUID, plan_id: uuid.UUID,
                quote_id: uuid.UUID | None = None, trial_end: str | None = None) -> Subscription:
    sub = owned_subscription(user_id, subscription_id, for_update=True)
    if sub.status == "trialing":
        return trial_changes.change_during_trial(sub, plan_id, trial_end)
    old, new = checked_change(sub, plan_id)
    if quote_id is not None:
        invoice = _quoted(sub, new, quotes.redeem(sub, quote_id, plan_id, clock.utcnow()))
    else:
        invoice = _priced(sub, old, new)
    integrations.emit("subscription.updated", "subscription", sub.id, integrations.dump(sub))
    db.session.commit()
    return with_latest_invoice(sub, invoice)


def _quoted(sub: Subscription, new: Plan, quote):
    """Bill exactly the quote's lines (priced at its moment), with the same effects as an unquoted change."""
    if quote.body["effect"] == "at_period_end":
        sub.pending_plan_id = new.id
        return None
    lines = quotes.invoice_lines(quote)
    return _bill_change(sub, new, lines, lines[0].period_start, lines[1].period_end,
                        f"Change to {new.name} (as quoted)")


def _priced(sub: Subscription, old: Plan, new: Plan):
    """An upgrade or interval change billed now; the same price or cheaper waits for the period end."""
    now = clock.utcnow()
    priced = price_change(sub, old, new, now)
    if priced.effect == "at_period_end":
        # Same price or cheaper: nothing to charge now, it takes effect at the period end.
        sub.pending_plan_id = new.id
        return None
    end = priced.lines[1].period_end
    description = (f"Upgrade to {new.name} (prorated)" if priced.effect == "upgrade"
                   else f"Change to {new.name} (new billing cycle)")
    return _bill_change(sub, new, priced.lines, now, end, description)


def _bill_change(sub: Subscription, new: Plan, lines: list[InvoiceLine], start, end, description: str):
    """The change's invoice after held credit; paid at once (nothing to collect) it applies now."""
    invoice = invoices.with_balance(sub, "subscription_update", new.currency, lines, start, end, clock.utcnow())
    balance.bank_excess(invoice)
    if invoice.status == "paid":
        apply_paid_upgrade(sub, invoice, None)
    else:
        _collect(sub, invoice, description)
    return invoice


def _collect(sub: Subscription, invoice, description: str) -> None:
    if sub.payment_method_id is not None:
        invoices.request_charge(invoice, sub, description)
    # Without a saved method the invoice stays open for POST /v1/payments/process.


def apply_paid_upgrade(sub: Subscription, invoice, payment: dict) -> bool:
    """Switch to the upgrade's plan once its invoice is paid (by `payment`); False if it no longer applies.

    An interval change (its new plan on a `plan` line) starts the new period and anchor at
    the payment; a same-interval upgrade (`proration_charge`) keeps the period.
    """
    charge = next((line for line in invoice.lines if line.kind in ("proration_charge", "plan")), None)
    credit = next((line for line in invoice.lines if line.kind == "proration_credit"), None)
    if charge is None or credit is None:
        log.error("upgrade invoice %s has no proration lines", invoice.id)
        return False
    if not sub.is_live or sub.plan_id != credit.plan_id:
        # The proration was for a plan and period the subscription no longer has: give the money back.
        invoices.request_refund(payment, "upgrade_no_longer_applies")
        log.warning("upgrade invoice %s paid but subscription %s is %s on plan %s: refund of payment %s requested",
                    invoice.id, sub.id, sub.status, sub.plan_id, invoice.transaction_id)
        return False
    new = db.session.get(Plan, charge.plan_id)
    if charge.kind == "plan":
        if any(line.kind == "discount" for line in invoice.lines):
            discounts.use_change_period(sub)  # the new period it starts is one of the discount's
        start = invoice.paid_at
        sub.billing_cycle_anchor, sub.current_period_start = start, start
        sub.current_period_end = plan_period_end(new, start)
    elif not same_cycle(db.session.get(Plan, sub.plan_id), new):
        # Priced by the old rule (an invoice opened before interval changes started a new cycle): the paid
        # period keeps its end and the new plan's cycle starts there.
        sub.billing_cycle_anchor = sub.current_period_end
    prices.put_on_current_price(sub, new)
    sub.plan_id = charge.plan_id
    sub.pending_plan_id = None  # only a paid upgrade supersedes a scheduled downgrade
    return True
