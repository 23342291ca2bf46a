"""Card validation, brand detection, and the one card schema both services load with.

The card number only passes through memory on its way to the gateway's tokeniser:
it is never stored, logged, or echoed in an error message. What we keep is the
brand, the last four digits, the expiry and the gateway's token.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from marshmallow import ValidationError, fields, validate, validates_schema

from core import clock
from core.schemas import Integer, StrictSchema

MIN_DIGITS, MAX_DIGITS = 12, 19
_SEPARATORS = re.compile(r"[\s-]")


@dataclass(frozen=True)
class Card:
    """A validated card. `repr` hides the number and the CVC so a stray log line leaks nothing."""
    number: str
    exp_month: int
    exp_year: int
    cvc: str
    brand: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        return f"Card(brand={self.brand!r}, last4={self.last4!r}, exp={self.exp_month:02d}/{self.exp_year})"

    __str__ = __repr__


def normalise_number(number: str) -> str:
    return _SEPARATORS.sub("", number or "")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def detect_brand(digits: str) -> str:
    """Brand by IIN prefix (the common ranges; anything else is 'other')."""
    two, four, six = int(digits[:2] or 0), int(digits[:4] or 0), int(digits[:6] or 0)
    if digits.startswith("4"):
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if digits.startswith("6011") or digits.startswith("65") or 644 <= int(digits[:3] or 0) <= 649 \
            or 622126 <= six <= 622925:
        return "discover"
    return "other"


def expiry_end(exp_month: int, exp_year: int) -> datetime:
    """A card is valid through the last instant of its expiry month."""
    last_day = calendar.monthrange(exp_year, exp_month)[1]
    return datetime(exp_year, exp_month, last_day, 23, 59, 59, 999999, tzinfo=timezone.utc)


def validate_card(number, exp_month, exp_year, cvc) -> tuple[Card | None, dict[str, list[str]]]:
    """Return (card, {}) or (None, {field: [messages]}). Messages never contain the input."""
    errors: dict[str, list[str]] = {}
    digits = normalise_number(number) if isinstance(number, str) else ""
    if not digits.isdigit():
        errors["number"] = ["Card number must contain digits only."]
    elif not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        errors["number"] = [f"Card number must have {MIN_DIGITS} to {MAX_DIGITS} digits."]
    elif not luhn_ok(digits):
        errors["number"] = ["Card number is invalid (checksum)."]
    brand = detect_brand(digits) if "number" not in errors else None

    month_ok = isinstance(exp_month, int) and not isinstance(exp_month, bool) and 1 <= exp_month <= 12
    year_ok = isinstance(exp_year, int) and not isinstance(exp_year, bool) and 1000 <= exp_year <= 9999
    if not month_ok:
        errors["exp_month"] = ["Expiry month must be between 1 and 12."]
    if not year_ok:
        errors["exp_year"] = ["Expiry year must have 4 digits."]
    if month_ok and year_ok and expiry_end(exp_month, exp_year) < clock.utcnow():
        errors["exp_year"] = ["Card has expired."]

    cvc_len = 4 if brand == "amex" else 3
    if not (isinstance(cvc, str) and cvc.isdigit() and len(cvc) == cvc_len):
        errors["cvc"] = [f"CVC must be {cvc_len} digits." if brand else "CVC must be 3 digits (4 for Amex)."]

    if errors:
        return None, errors
    return Card(number=digits, exp_month=exp_month, exp_year=exp_year, cvc=cvc, brand=brand), {}


class CardSchema(StrictSchema):
    """A card in a request body, checked in depth (Luhn, expiry, CVC) on both services so that one bad
    card gets one 422; field errors land under errors.json.card.<field>."""
    number = fields.String(required=True, load_only=True, validate=validate.Length(max=64))
    exp_month = Integer(required=True, load_only=True)
    exp_year = Integer(required=True, load_only=True)
    cvc = fields.String(required=True, load_only=True, validate=validate.Length(max=8))

    @validates_schema
    def _valid_card(self, data, **kwargs):
        _, errors = validate_card(data["number"], data["exp_month"], data["exp_year"], data["cvc"])
        if errors:
            raise ValidationError(errors)
