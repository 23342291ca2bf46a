"""Card validation: Luhn, length, expiry (end of month), CVC, brand; no card data in messages."""
from datetime import datetime, timezone

import pytest

from core import clock
from core import cards

pytestmark = [pytest.mark.payment, pytest.mark.calendar]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


@pytest.mark.parametrize("number,brand", [
    ("4242424242424242", "visa"),
    ("4242 4242 4242 4242", "visa"),
    ("4242-4242-4242-4242", "visa"),
    ("4222222222222", "visa"),            # 13 digits
    ("5555555555554444", "mastercard"),
    ("2223003122003222", "mastercard"),   # 2-series
    ("378282246310005", "amex"),
    ("6011111111111117", "discover"),
    ("3566002020360505", "other"),        # JCB
])
def test_valid_numbers_and_brands(number, brand):
    cvc = "1234" if brand == "amex" else "123"
    card, errors = cards.validate_card(number, 12, 2030, cvc)
    assert errors == {}
    assert card.brand == brand and card.last4 == number.replace(" ", "").replace("-", "")[-4:]


@pytest.mark.parametrize("number,message", [
    ("4242424242424241", "checksum"),
    ("42424242424", "12 to 19"),
    ("42424242424242424242", "12 to 19"),
    ("4242x42424242424", "digits only"),
    ("", "digits only"),
    (None, "digits only"),
])
def test_bad_numbers(number, message):
    card, errors = cards.validate_card(number, 12, 2030, "123")
    assert card is None and message in errors["number"][0]
    assert "4242" not in errors["number"][0]  # never echo the number


@pytest.mark.parametrize("month,year,field,message", [
    (0, 2030, "exp_month", "between 1 and 12"),
    (13, 2030, "exp_month", "between 1 and 12"),
    (12, 30, "exp_year", "4 digits"),
    (12, 20300, "exp_year", "4 digits"),
    (10, 2026, "exp_year", "expired"),
    (12, 2025, "exp_year", "expired"),
])
def test_bad_expiry(month, year, field, message):
    card, errors = cards.validate_card("4242424242424242", month, year, "123")
    assert card is None and message in errors[field][0]


def test_card_is_valid_through_the_end_of_its_expiry_month(monkeypatch):
    assert cards.validate_card("4242424242424242", 11, 2026, "123")[1] == {}
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 12, 1, 0, 0, 1, tzinfo=timezone.utc))
    assert "exp_year" in cards.validate_card("4242424242424242", 11, 2026, "123")[1]


@pytest.mark.parametrize("number,cvc,ok", [
    ("4242424242424242", "123", True),
    ("4242424242424242", "1234", False),
    ("4242424242424242", "12", False),
    ("4242424242424242", "12a", False),
    ("378282246310005", "1234", True),
    ("378282246310005", "123", False),
])
def test_cvc(number, cvc, ok):
    _, errors = cards.validate_card(number, 12, 2030, cvc)
    assert ("cvc" not in errors) is ok


def test_repr_hides_the_number_and_cvc():
    card, _ = cards.validate_card("4242424242424242", 12, 2030, "987")
    text = repr(card) + str(card)
    assert "424242424242" not in text and "987" not in text and "4242" in text
