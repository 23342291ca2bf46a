"""The discount table of docs/discounts.md, cent for cent."""
import pytest

from subscription_app.discounts.apply import discount_cents, lines_off
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


@pytest.mark.parametrize("coupon, amounts, off", [
    (Coupon(percent_off=20), [-1450, 4950], 700),      # credit share -290, charge share 990
    (Coupon(percent_off=20), [-1934, 6600], 933),      # -386.8 rounds to -387, 1320
    (Coupon(percent_off=20), [-23836, 2900], -4187),   # a net credit: the discount shrinks it
    (Coupon(amount_off_cents=500, currency="USD"), [-1450, 4950], 500),   # once per invoice
    (Coupon(amount_off_cents=5000, currency="USD"), [-1450, 4950], 3500),  # at most the net
    (Coupon(amount_off_cents=500, currency="USD"), [-23836, 2900], 0),     # never on a net credit
])
def test_lines_off(coupon, amounts, off):
    assert lines_off(coupon, amounts) == off
