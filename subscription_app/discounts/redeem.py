"""Redeeming a promotion code on a subscription, race-free (docs/discounts.md).

The checks first answer with a 422 that names why; the conditional UPDATEs in the caller's
transaction are what really decide the last use: of N parallel redemptions of it, one wins.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app import integrations
from subscription_app.discounts import catalog
from subscription_app.discounts.models import Coupon, CouponRedemption, Discount, PromotionCode
from subscription_app.models import Plan, Subscription

FIELD = "promotion_code"


def refuse(message: str, field: str = FIELD) -> ApiError:
    return ApiError(422, message, errors={"json": {field: [message]}})


def _why_not(code: PromotionCode, coupon: Coupon, user_id: int, plan: Plan, now: datetime) -> str | None:
    if not code.active:
        return "This promotion code is no longer active."
    if not coupon.active:
        return "This promotion code is no longer active (its coupon was deactivated)."
    if (code.expires_at and code.expires_at <= now) or (coupon.redeem_by and coupon.redeem_by <= now):
        return "This promotion code has expired."
    if _exhausted(code) or _exhausted(coupon):
        return "This promotion code has been used up (max redemptions reached)."
    if coupon.applies_to_plan_ids and str(plan.id) not in coupon.applies_to_plan_ids:
        return f"This promotion code does not apply to the plan {plan.name}."
    if coupon.currency and coupon.currency != plan.currency:
        return f"This promotion code is in {coupon.currency}; the plan bills in {plan.currency}."
    if code.once_per_customer and _used_by(code, user_id):
        return "You have already used this promotion code."
    return None


def _exhausted(row) -> bool:
    return row.max_redemptions is not None and row.times_redeemed >= row.max_redemptions


def _used_by(code: PromotionCode, user_id: int) -> bool:
    used = select(CouponRedemption.id).where(CouponRedemption.promotion_code_id == code.id,
                                             CouponRedemption.user_id == user_id).limit(1)
    return db.session.scalar(used) is not None


def resolve(text: str, user_id: int, plan: Plan) -> PromotionCode:
    """The code, if it may be redeemed now by this user on this plan; a 422 naming why otherwise."""
    code = catalog.find_code(text)
    if code is None:
        raise refuse("Unknown promotion code.")
    reason = _why_not(code, db.session.get(Coupon, code.coupon_id), user_id, plan, clock.utcnow())
    if reason:
        raise refuse(reason)
    return code


def _count_use(model, row_id: uuid.UUID) -> bool:
    """One conditional UPDATE: the row lock orders racers (and a deactivation), the WHERE lets the valid ones by."""
    won = db.session.execute(
        update(model).where(model.id == row_id, model.active.is_(True),
                            or_(model.max_redemptions.is_(None), model.times_redeemed < model.max_redemptions))
        .values(times_redeemed=model.times_redeemed + 1).returning(model.id)).scalar_one_or_none()
    return won is not None


def redeem(code: PromotionCode, sub: Subscription) -> Discount:
    """Count the use and attach the discount, in the caller's transaction (which rolls back on a 422)."""
    if not (_count_use(PromotionCode, code.id) and _count_use(Coupon, code.coupon_id)):
        # Lost to a racer or a deactivation since resolve(): say which, as the rows are now.
        db.session.refresh(code)
        coupon = db.session.get(Coupon, code.coupon_id, populate_existing=True)
        raise refuse(_why_not(code, coupon, sub.user_id, db.session.get(Plan, sub.plan_id), clock.utcnow())
                     or "This promotion code has been used up (max redemptions reached).")
    coupon = db.session.get(Coupon, code.coupon_id)
    try:
        with db.session.begin_nested():
            db.session.add(CouponRedemption(coupon_id=coupon.id, promotion_code_id=code.id, user_id=sub.user_id,
                                            subscription_id=sub.id, once_per_customer=code.once_per_customer))
    except IntegrityError:
        raise refuse("You have already used this promotion code.") from None
    discount = Discount(id=uuid.uuid4(), subscription_id=sub.id, coupon_id=coupon.id, promotion_code_id=code.id,
                        start=clock.utcnow(), periods_left=_periods(coupon))
    db.session.add(discount)
    db.session.flush()
    integrations.emit("discount.created", "discount", discount.id, integrations.dump(discount))
    return discount


def _periods(coupon: Coupon) -> int | None:
    return {"once": 1, "repeating": coupon.duration_in_periods, "forever": None}[coupon.duration]

