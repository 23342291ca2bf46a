"""The lines a plan change bills, priced in one place for the quote and for PUT .../plan.

The proration itself is billing/proration.py; the subscription's discount on those lines is
discounts/apply.py (docs/discounts.md); a total below zero moves to the customer balance
(docs/credit-balance.md). A quote stores these lines and PUT .../plan with its quote_id bills
them as stored, so a quoted and an unquoted change at the same second bill the same cents.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from subscription_app.billing import invoices
from subscription_app.billing.periods import plan_period_end, same_cycle
from subscription_app.billing.proration import prorate_interval_change, prorate_upgrade, remaining_seconds
from subscription_app.catalog import prices
from subscription_app.discounts import apply as discounts
from subscription_app.discounts import balance
from subscription_app.models import InvoiceLine, Plan, Subscription


FULL_PRICE_NOW = "full_price_now"  # the operator's mode: Stripe's billing_cycle_anchor=now, proration_behavior=none


@dataclass(frozen=True)
class PricedChange:
    effect: str                   # upgrade | interval_change | full_price | at_period_end
    lines: list[InvoiceLine]      # what is billed now (none: at_period_end)
    old_cents: int                # what the subscription pays for its current plan
    remaining: int
    period: int
    renewal_at: datetime          # the next plan invoice after the change
    renewal_cents: int            # its amount: the new plan's price less the discount then left

    @property
    def due_now_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


def price_change(sub: Subscription, old: Plan, new: Plan, at: datetime,
                 proration: str = "create_prorations") -> PricedChange:
    """The change's lines at `at`; nothing is written (an interval change uses its discount period when paid)."""
    old_cents = prices.price_of(sub, old).amount_cents
    remaining, period = remaining_seconds(at, sub.current_period_start, sub.current_period_end)
    end = sub.current_period_end
    credit = f"Unused time on {old.name} ({remaining} of {period} s)"
    if proration == FULL_PRICE_NOW:
        # A whole new period charged now. The zero credit line names the old plan, so the paid invoice
        # applies only while the subscription is still on the plan it was priced for (apply_paid_upgrade).
        renewal_at = plan_period_end(new, at)
        lines = [invoices.plan_line(old, at, end, "proration_credit", 0,
                                    f"Unused time on {old.name} not credited ({remaining} of {period} s; "
                                    "full price now)"),
                 invoices.plan_line(new, at, renewal_at)]
        effect, new_period = "full_price", True
    elif proration != "none" and same_cycle(old, new) and new.price_cents > old_cents:
        p = prorate_upgrade(old_cents, new.price_cents, remaining, period)
        lines = [invoices.plan_line(old, at, end, "proration_credit", p.credit_cents, credit),
                 invoices.plan_line(new, at, end, "proration_charge", p.charge_cents,
                                    f"Remaining time on {new.name} ({remaining} of {period} s)")]
        effect, renewal_at, new_period = "upgrade", end, False
    elif proration != "none" and not same_cycle(old, new):
        p = prorate_interval_change(old_cents, new.price_cents, remaining, period)
        # As priced now; the period really starts when the invoice is paid (plan_change.apply_paid_upgrade).
        renewal_at = plan_period_end(new, at)
        lines = [invoices.plan_line(old, at, end, "proration_credit", p.credit_cents, credit),
                 invoices.plan_line(new, at, renewal_at)]
        effect, new_period = "interval_change", True
    else:
        return PricedChange("at_period_end", [], old_cents, remaining, period, end,
                            _renewal_cents(sub, new, end, used_now=0))
    off = discounts.change_discount_lines(sub, lines, new_period)
    lines += off
    lines += balance.excess_lines(sum(line.amount_cents for line in lines), new.currency)
    used_now = 1 if (off and new_period) else 0
    return PricedChange(effect, lines, old_cents, remaining, period, renewal_at,
                        _renewal_cents(sub, new, renewal_at, used_now))


def _renewal_cents(sub: Subscription, plan: Plan, start: datetime, used_now: int) -> int:
    line = invoices.plan_line(plan, start, start)
    off = discounts.plan_discount_lines(sub, line, use=False, skip=used_now)
    return line.amount_cents + sum(d.amount_cents for d in off)
