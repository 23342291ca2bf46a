"""What a subscription's discount takes off a plan line (docs/discounts.md has the table of cents)."""
from __future__ import annotations

from sqlalchemy import or_, select

from core.extensions import db
from subscription_app.discounts.models import Coupon, Discount
from subscription_app.models import InvoiceLine, Subscription


def discount_cents(coupon: Coupon, amount_cents: int) -> int:
    """Percent off rounds half up to the cent (Stripe rounds to the nearest); never more than the line."""
    if coupon.percent_off is not None:
        off = (amount_cents * coupon.percent_off + 50) // 100
    else:
        off = coupon.amount_off_cents
    return max(0, min(off, amount_cents))


def _live_discount(sub: Subscription) -> Discount | None:
    return db.session.scalar(select(Discount).where(Discount.subscription_id == sub.id,
                                                    or_(Discount.periods_left.is_(None), Discount.periods_left > 0))
                             .with_for_update())


def _applies(coupon: Coupon, line: InvoiceLine) -> bool:
    if coupon.applies_to_plan_ids and str(line.plan_id) not in coupon.applies_to_plan_ids:
        return False
    return coupon.currency is None or coupon.currency == line.currency


def discount_lines(sub: Subscription, line: InvoiceLine) -> list[InvoiceLine]:
    """The discount line for one billed period of `line`, using up one of the discount's periods."""
    discount = _live_discount(sub)
    if discount is None:
        return []
    coupon = db.session.get(Coupon, discount.coupon_id)
    if not _applies(coupon, line):
        return []
    off = discount_cents(coupon, line.amount_cents)
    if discount.periods_left is not None:
        discount.periods_left -= 1
    if off == 0:
        return []
    return [InvoiceLine(kind="discount", plan_id=line.plan_id, currency=line.currency, amount_cents=-off,
                        period_start=line.period_start, period_end=line.period_end,
                        description=f"Discount: {coupon.name}")]
