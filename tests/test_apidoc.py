"""core.apidoc.doc_only: the hot route keeps its OpenAPI documentation without pass-through wrappers."""
import pytest

pytestmark = pytest.mark.subscription


def test_use_route_keeps_its_documented_responses_header_and_security(client):
    op = client.get("/openapi.json").json["paths"]["/v1/usage/features/{feature_name}/use"]["post"]
    assert set(op["responses"]) >= {"200", "403", "404", "422", "429"}
    assert op["responses"]["429"]["description"].startswith("Limit reached")
    assert op["security"] == [{"bearerAuth": []}]
    assert [p["name"] for p in op["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]


def test_use_route_has_no_pass_through_layers(app):
    view, layers = app.view_functions["usage.use_feature"], 0
    while hasattr(view, "__wrapped__"):
        view, layers = view.__wrapped__, layers + 1
    # jwt_required, revocation_checked_in_view, blp.arguments (flask-smorest's layer and webargs'),
    # blp.response: the ones that do work. With the doc and three alt_response wrappers it was 9.
    assert layers == 5
