"""A promotion code on a live subscription (POST /v1/subscriptions/{id}/discount)."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from core.errors import ApiError
from core.extensions import db
from subscription_app.billing.lifecycle import owned_subscription
from subscription_app.discounts import redeem
from subscription_app.discounts.models import Coupon, Discount
from subscription_app.models import Plan


def add_discount(user_id: int, subscription_id: uuid.UUID, text: str) -> Discount:
    """The discount starts with the next plan invoice (the renewal); one live discount per subscription."""
    sub = owned_subscription(user_id, subscription_id, for_update=True)
    if not sub.is_live:
        raise ApiError(409, f"Subscription is {sub.status}; a discount needs a live one")
    old = db.session.scalar(select(Discount).where(Discount.subscription_id == sub.id))
    if old is not None and old.periods_left != 0:
        raise ApiError(409, "This subscription has a discount already")
    code = redeem.resolve(text, user_id, db.session.get(Plan, sub.plan_id))
    if old is not None:  # used up: the new one takes its place
        db.session.delete(old)
        db.session.flush()
    discount = redeem.redeem(code, sub)
    db.session.commit()
    return with_coupon(discount)


def with_coupon(discount: Discount) -> Discount:
    discount.coupon = db.session.get(Coupon, discount.coupon_id)
    return discount
