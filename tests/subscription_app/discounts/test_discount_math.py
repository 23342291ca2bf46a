"""The discount table of docs/discounts.md, cent for cent."""
import pytest

from subscription_app.discounts.apply import discount_cents
from subscription_app.discounts.models import Coupon


@pytest.mark.parametrize("coupon, amount, off", [
    (Coupon(percent_off=20), 2900, 580),
    (Coupon(percent_off=3), 1250, 38),     # 37.5 rounds half up
    (Coupon(percent_off=50), 999, 500),    # 499.5 rounds half up
    (Coupon(percent_off=33), 1001, 330),   # 330.33 rounds down
    (Coupon(percent_off=100), 2900, 2900),
    (Coupon(amount_off_cents=500, currency="USD"), 2900, 500),
    (Coupon(amount_off_cents=5000, currency="USD"), 900, 900),  # never below zero
    (Coupon(percent_off=20), 0, 0),
])
def test_discount_cents(coupon, amount, off):
    assert discount_cents(coupon, amount) == off
