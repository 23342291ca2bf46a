"""The hot `use` route documents its responses, header and security with flask-smorest's own decorators."""
import pytest

pytestmark = pytest.mark.subscription


def test_use_route_keeps_its_documented_responses_header_and_security(client):
    op = client.get("/openapi.json").json["paths"]["/v1/usage/features/{feature_name}/use"]["post"]
    assert set(op["responses"]) >= {"200", "403", "404", "422", "429"}
    assert op["responses"]["429"]["description"].startswith("Limit reached")
    assert op["security"] == [{"bearerAuth": []}]
    assert [p["name"] for p in op["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
