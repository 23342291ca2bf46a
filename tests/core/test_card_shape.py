"""One card check (core.cards.CardSchema) on both services: the same bad card, the same 422."""
import uuid

import pytest

from core import clock

pytestmark = pytest.mark.calendar
GOOD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


def _bad_cards():
    last_year = clock.utcnow().year - 1
    return [
        ({"number": "4242424242424241"}, {"number": ["Card number is invalid (checksum)."]}),
        ({"number": "4242 4242"}, {"number": ["Card number must have 12 to 19 digits."]}),
        ({"number": "4242abcd42424242"}, {"number": ["Card number must contain digits only."]}),
        ({"exp_month": 13}, {"exp_month": ["Expiry month must be between 1 and 12."]}),
        ({"exp_year": last_year}, {"exp_year": ["Card has expired."]}),
        ({"cvc": "12"}, {"cvc": ["CVC must be 3 digits."]}),
        ({"number": "378282246310005", "cvc": "123"}, {"cvc": ["CVC must be 4 digits."]}),
    ]


CASES = ["bad-checksum", "too-short", "letters", "month-13", "expired", "short-cvc", "amex-cvc"]


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASES)
def test_the_same_bad_card_gets_the_same_422_on_both_ports(_apps, app, make_user, case):
    change, expected = _bad_cards()[case]
    card = {**GOOD, **change}
    _, h = make_user()
    on_subscriptions = _apps["subscription"].test_client().post(
        "/v1/subscriptions", json={"plan_id": str(uuid.uuid4()), "card": card}, headers=h)
    on_payments = _apps["payment"].test_client().post(
        "/v1/payments/process", json={"amount_cents": 100, "currency": "USD", "card": card}, headers=h)
    assert on_subscriptions.status_code == on_payments.status_code == 422
    assert on_subscriptions.json["errors"]["json"]["card"] == expected
    assert on_payments.json["errors"]["json"]["card"] == expected
    for response in (on_subscriptions, on_payments):
        assert card["number"] not in response.get_data(as_text=True)  # never echoed


def test_a_good_card_passes_the_shared_check():
    from core.cards import CardSchema
    assert CardSchema().load(GOOD)["number"] == GOOD["number"]


@pytest.mark.parametrize("code, ok", [("USD", True), ("JPY", True), ("VED", True), ("XCG", True), ("ZWG", True),
                                      ("ZWL", False), ("ANG", False), ("BGN", False), ("XAU", False),
                                      ("XXX", False), ("usd", False)])
def test_currencies_come_from_the_maintained_iso_4217_table(code, ok):
    from core.money import is_currency
    assert is_currency(code) is ok
