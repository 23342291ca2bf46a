"""What a subscription's discount takes off an invoice (docs/discounts.md has the tables of cents).

Three kinds of invoice, one rule each:

- a plan invoice (subscribe, renewal, trial conversion): its plan line, while the discount has
  periods left; it uses one;
- a same-interval upgrade (proration credit + charge for the rest of the current period): both
  lines, when the discount covers the current period (forever; repeating while it has periods
  left or discounted this period's plan invoice; never `once`, which is the first invoice only);
- an interval change (credit + the new plan's first period): both lines, while a forever or
  repeating discount has periods left; it starts a period, so it uses one once paid.

Percent off applies to each line, credit lines too (the unused time is credited at the
discounted price that was paid), rounded half up per line; amount off applies once per invoice,
at most the lines' net, never to a net credit (Stripe's rules).
"""
from __future__ import annotations

from sqlalchemy import and_, exists, or_, select

from core.extensions import db
from subscription_app.discounts.models import Coupon, Discount
from subscription_app.models import Invoice, InvoiceLine, Subscription

PLAN_INVOICE_REASONS = ("subscription_create", "subscription_cycle", "trial_conversion")


def discount_cents(coupon: Coupon, amount_cents: int) -> int:
    """Percent off rounds half up to the cent (Stripe rounds to the nearest); never more than the line."""
    if coupon.percent_off is not None:
        off = (amount_cents * coupon.percent_off + 50) // 100
    else:
        off = coupon.amount_off_cents
    return max(0, min(off, amount_cents))


def lines_off(coupon: Coupon, amounts: list[int]) -> int:
    """What the coupon takes off lines of these amounts: percent per line (a credit's share negative), else once."""
    if coupon.percent_off is not None:
        return sum(discount_cents(coupon, a) if a >= 0 else -discount_cents(coupon, -a) for a in amounts)
    return discount_cents(coupon, max(0, sum(amounts)))


def live_discount(sub: Subscription, lock: bool = False) -> Discount | None:
    """The subscription's discount if it has plan invoices left (null periods_left: forever)."""
    stmt = select(Discount).where(Discount.subscription_id == sub.id,
                                  or_(Discount.periods_left.is_(None), Discount.periods_left > 0))
    return db.session.scalar(stmt.with_for_update() if lock else stmt)


def with_coupon(discount: Discount | None) -> Discount | None:
    """The discount with its coupon's terms attached, as the API shows it."""
    if discount is not None:
        discount.coupon = db.session.get(Coupon, discount.coupon_id)
    return discount


def _applies(coupon: Coupon, line: InvoiceLine) -> bool:
    if coupon.applies_to_plan_ids and str(line.plan_id) not in coupon.applies_to_plan_ids:
        return False
    return coupon.currency is None or coupon.currency == line.currency


def _line(coupon: Coupon, like: InvoiceLine, off: int) -> list[InvoiceLine]:
    if off == 0:
        return []
    return [InvoiceLine(kind="discount", plan_id=like.plan_id, currency=like.currency, amount_cents=-off,
                        period_start=like.period_start, period_end=like.period_end,
                        description=f"Discount: {coupon.name}")]


def _use_one(discount: Discount) -> None:
    if discount.periods_left is not None:
        discount.periods_left -= 1


def plan_discount_lines(sub: Subscription, line: InvoiceLine, use: bool = True, skip: int = 0) -> list[InvoiceLine]:
    """The discount line for one billed period of `line`, using the period.

    `use=False` only looks (the upcoming invoice, a quote's next renewal), as if `skip` more
    periods had been used first.
    """
    discount = live_discount(sub, lock=use)
    if discount is None or (discount.periods_left is not None and discount.periods_left <= skip):
        return []
    coupon = db.session.get(Coupon, discount.coupon_id)
    if not _applies(coupon, line):
        return []
    if use:
        _use_one(discount)
    return _line(coupon, line, discount_cents(coupon, line.amount_cents))


def _discounted_this_period(sub: Subscription) -> bool:
    """Did the invoice that started the current period carry a discount (one row per subscription: this one)?

    That is its plan invoice, or a paid interval change, whose period starts when it is paid.
    """
    opened = or_(and_(Invoice.reason.in_(PLAN_INVOICE_REASONS), Invoice.period_start == sub.current_period_start),
                 and_(Invoice.reason == "subscription_update", Invoice.paid_at == sub.current_period_start))
    return db.session.scalar(select(exists().where(
        Invoice.subscription_id == sub.id, opened, Invoice.status.in_(("open", "paid")),
        exists().where(InvoiceLine.invoice_id == Invoice.id, InvoiceLine.kind == "discount")))) is True


def _change_discount(sub: Subscription, new_period: bool) -> Discount | None:
    discount = db.session.scalar(select(Discount).where(Discount.subscription_id == sub.id))
    if discount is None or db.session.get(Coupon, discount.coupon_id).duration == "once":
        return None
    has_periods = discount.periods_left is None or discount.periods_left > 0
    if has_periods or (not new_period and _discounted_this_period(sub)):
        return discount
    return None


def change_discount_lines(sub: Subscription, lines: list[InvoiceLine], new_period: bool) -> list[InvoiceLine]:
    """The discount line of a plan change's `lines` (the rules above); `new_period`: an interval change.

    Nothing is used here: an interval change uses its period when its invoice is paid (use_change_period).
    """
    discount = _change_discount(sub, new_period)
    if discount is None:
        return []
    coupon = db.session.get(Coupon, discount.coupon_id)
    covered = [line for line in lines if _applies(coupon, line)]
    if not covered:
        return []
    return _line(coupon, covered[-1], lines_off(coupon, [line.amount_cents for line in covered]))


def use_change_period(sub: Subscription) -> None:
    """A paid interval change whose invoice carried the discount: the period it starts is one of the discount's."""
    discount = _change_discount(sub, new_period=True)
    if discount is not None:
        _use_one(discount)
