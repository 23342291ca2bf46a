"""Every operator route refuses a missing token (401) and a customer's token (403) before it parses anything.

The routes are read from the app's URL map, so a route added later is checked without touching this file.
"""
from __future__ import annotations

import re
import uuid

from subscription_app.blueprints import BLUEPRINTS
from subscription_app.blueprints.admin_blueprint import AdminBlueprint

ADMIN_BLUEPRINTS = {blp.name for blp in BLUEPRINTS if isinstance(blp, AdminBlueprint)}
SAMPLE = {"uuid": str(uuid.uuid4()), "int": "1", "string": "evt_1"}


def _admin_routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ADMIN_BLUEPRINTS:
            continue
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", lambda m: SAMPLE[m.group(1) or "string"], rule.rule)
        routes += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    assert len(routes) >= 40, routes  # the back office's routes, not an empty loop
    return routes


def test_the_operator_blueprints_are_all_guarded(app):
    # Every blueprint under /v1/admin but the development clock (404 in production, checked before auth).
    prefixed = {blp.name for blp in BLUEPRINTS if (blp.url_prefix or "").startswith("/v1/admin")}
    assert prefixed - ADMIN_BLUEPRINTS == {"admin"}


def test_without_a_token_every_operator_route_is_401(app, client):
    for method, path in _admin_routes(app):
        r = client.open(path, method=method, json={"junk": True})
        assert r.status_code == 401, (method, path, r.status_code, r.get_data()[:200])


def test_a_customers_token_is_403_on_every_operator_route_even_with_a_bad_body(app, client, seeded, make_user):
    _, headers = make_user()
    for method, path in _admin_routes(app):
        # A malformed body and an Idempotency-Key: the role is refused before the body is parsed or the key kept.
        r = client.open(path, method=method, data="{not json", content_type="application/json",
                        headers={**headers, "Idempotency-Key": "guard-test"})
        assert r.status_code == 403, (method, path, r.status_code, r.get_data()[:200])
        assert r.json["message"] == "Admin role required"


def test_the_openapi_document_says_so_for_every_operator_operation(client):
    spec = client.get("/openapi.json").json
    operations = [(path, method, op) for path, item in spec["paths"].items() if path.startswith("/v1/admin/")
                  and not path.startswith("/v1/admin/clock") for method, op in item.items() if method != "parameters"]
    assert operations
    for path, method, op in operations:
        assert op.get("security") == [{"bearerAuth": []}], (method, path)
        assert op["responses"]["403"]["description"] == "Admin role required", (method, path)
