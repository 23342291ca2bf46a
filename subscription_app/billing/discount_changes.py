"""A promotion code on a live subscription (POST /v1/subscriptions/{id}/discount), and removing it."""
from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from core.errors import ApiError
from core.extensions import db
from subscription_app import integrations
from subscription_app.billing import history
from subscription_app.billing.lifecycle import owned_subscription
from subscription_app.discounts import redeem
from subscription_app.discounts.apply import with_coupon
from subscription_app.discounts.models import Discount
from subscription_app.models import Plan, Subscription


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


def remove_discount(sub: Subscription, by: str) -> Discount:
    """Stripe's DELETE /v1/subscriptions/{id}/discount: no discount from the next invoice on, quotes outdated.

    Invoices already written keep their discount lines; the redemption still counts (a once-per-customer
    code stays used). `sub` is locked by the caller.
    """
    discount = db.session.scalar(select(Discount).where(Discount.subscription_id == sub.id))
    if discount is None or discount.periods_left == 0:
        raise ApiError(404, "This subscription has no discount")
    payload = integrations.dump(discount)
    db.session.delete(discount)
    flag_modified(sub, "plan_id")  # moves the version, so a quote priced with the discount is a 409
    history.record(sub, "discount_deleted", {"by": by, "coupon_id": str(discount.coupon_id),
                                             "periods_left": discount.periods_left})
    integrations.emit("discount.deleted", "discount", discount.id, payload)
    integrations.emit("subscription.updated", "subscription", sub.id, integrations.dump(sub))
    return with_coupon(discount)
