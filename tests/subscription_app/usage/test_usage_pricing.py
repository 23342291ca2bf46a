"""rate(): the test vectors of docs/usage-billing.md, and the admin API's usage_pricing field."""
import json
import pathlib
import re

import pytest

from subscription_app.usage.pricing import rate
from tests.support.billing_support import BASIC_MONTHLY_ID

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "usage-billing.md"
ROW = re.compile(r"^\| (\d+) \| (\d+) \| `(\{.*\})` \| (\d+) \| (\d+) \|$")


def _vectors():
    rows = [ROW.match(line) for line in DOC.read_text().splitlines()]
    return [(int(m[1]), int(m[2]), json.loads(m[3]), int(m[4]), int(m[5])) for m in rows if m]


def test_the_doc_has_vectors_for_every_model():
    models = {p.get("model") for _, _, p, _, _ in _vectors()}
    assert {"per_unit", "package", "graduated", "volume"} <= models and len(_vectors()) >= 12


@pytest.mark.parametrize("quantity,included,pricing,billable,amount", _vectors())
def test_rate_vectors(quantity, included, pricing, billable, amount):
    got_billable, got_amount, _ = rate(quantity, included, pricing)
    assert (got_billable, got_amount) == (billable, amount)


def test_graduated_detail_names_each_tier():
    tiers = [{"up_to": 100, "unit_amount_cents": 3}, {"up_to": None, "unit_amount_cents": 1}]
    _, _, detail = rate(150, 0, {"limit_mode": "soft", "model": "graduated", "tiers": tiers})
    assert detail["tiers"] == [{"up_to": 100, "quantity": 100, "amount_cents": 300},
                               {"up_to": None, "quantity": 50, "amount_cents": 50}]


SOFT = {"api_calls": {"included": 1000, "limit_mode": "soft", "model": "per_unit", "unit_amount_cents": 2}}


def _admin(make_user):
    return make_user(email="ops@example.com", role="admin")[1]


def test_admin_prices_a_plan_and_reads_it_back(client, seeded, make_user):
    h = _admin(make_user)
    r = client.patch(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", json={"usage_pricing": SOFT}, headers=h)
    assert r.status_code == 200, r.json
    assert r.json["usage_pricing"]["api_calls"]["unit_amount_cents"] == 2
    assert client.get(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", headers=h).json["usage_pricing"] == r.json["usage_pricing"]


@pytest.mark.parametrize("pricing,field", [
    ({"nope": {"limit_mode": "soft"}}, "usage_pricing.nope"),
    ({"api_calls": {"limit_mode": "maybe"}}, "usage_pricing.api_calls.limit_mode"),
    ({"api_calls": {"limit_mode": "soft", "model": "package", "unit_amount_cents": 5}},
     "usage_pricing.api_calls.package_size"),
    ({"api_calls": {"limit_mode": "soft", "unit_amount_cents": -1}}, "usage_pricing.api_calls.unit_amount_cents"),
    ({"api_calls": {"limit_mode": "soft", "model": "graduated", "tiers": [{"up_to": 5, "unit_amount_cents": 1}]}},
     "usage_pricing.api_calls.tiers.0.up_to"),
    ({"api_calls": {"included": "many"}}, "usage_pricing.api_calls.included"),
])
def test_bad_pricing_is_a_422_naming_the_field_and_writes_nothing(client, seeded, make_user, pricing, field):
    h = _admin(make_user)
    r = client.patch(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", json={"usage_pricing": pricing, "name": "Basic 2"},
                     headers=h)
    assert r.status_code == 422 and field in r.json["errors"]["json"], r.json
    plan = client.get(f"/v1/admin/plans/{BASIC_MONTHLY_ID}", headers=h).json
    assert plan["usage_pricing"] == {} and plan["name"] == "Basic"


def test_create_plan_with_pricing(client, seeded, make_user):
    h = _admin(make_user)
    body = {"name": "Metered", "price_cents": 0, "feature_limits": {"api_calls": None}, "usage_pricing": SOFT}
    r = client.post("/v1/admin/plans", json=body, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["usage_pricing"]["api_calls"]["included"] == 1000
