"""Helpers of the discount, credit and upcoming-invoice tests: codes made through the admin API, credit granted."""
from __future__ import annotations

from core.extensions import db
from subscription_app.discounts import balance
from subscription_app.seed import PRO_MONTHLY_ID

def make_code(client, h, code="WELCOME20", coupon=None, **code_fields) -> dict:
    """A coupon (20 % once unless given) and a promotion code for it, made by the admin `h`."""
    body = coupon or {"name": "Welcome 20 %", "percent_off": 20, "duration": "once"}
    created = client.post("/v1/admin/coupons", json=body, headers=h)
    assert created.status_code == 201, created.json
    made = client.post("/v1/admin/promotion-codes", json={"code": code, "coupon_id": created.json["id"],
                                                          **code_fields}, headers=h)
    assert made.status_code == 201, made.json
    return made.json


def subscribe(client, h, code, plan_id=PRO_MONTHLY_ID):
    """POST /v1/subscriptions with a promotion code (no card: the invoice stays open unless it is zero)."""
    return client.post("/v1/subscriptions", json={"plan_id": str(plan_id), "promotion_code": code}, headers=h)


def lines(invoice: dict) -> list[tuple[str, int]]:
    return [(line["kind"], line["amount_cents"]) for line in invoice["lines"]]


def give(app, user_id: int, cents: int, currency: str = "USD") -> None:
    """Credit the customer's balance, as a credit note without refund would."""
    with app.app_context():
        balance.credit(user_id, currency, cents, "test_grant")
        db.session.commit()
