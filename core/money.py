"""ISO 4217 currencies from the maintained `iso4217` package (no hand-kept list)."""
from __future__ import annotations

from iso4217 import Currency


def is_currency(code: str) -> bool:
    """True for an upper-case ISO 4217 code in the package's current table that money is priced in.

    Codes without minor units (gold XAU, the SDR XDR, test XTS, "no currency" XXX) are not.
    """
    if not isinstance(code, str) or len(code) != 3 or not code.isupper():
        return False
    try:
        return Currency(code).exponent is not None
    except ValueError:
        return False


def minor_units(code: str) -> int:
    """Digits after the decimal point (USD 2, JPY 0); codes without minor units count as 0."""
    exponent = Currency(code).exponent
    return exponent or 0


def format_money(cents: int, currency: str) -> str:
    """`cents` minor units as text: 4900 USD -> "49.00 USD", 500 JPY -> "500 JPY"."""
    digits = minor_units(currency) if is_currency(currency) else 2
    if digits == 0:
        return f"{cents} {currency}"
    sign, whole = ("-" if cents < 0 else ""), abs(cents)
    return f"{sign}{whole // 10 ** digits}.{whole % 10 ** digits:0{digits}d} {currency}"
