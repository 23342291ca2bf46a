"""Seed data, the plan catalogue, OpenAPI and Swagger UI without a CDN."""
import pytest

from subscription_app.seed import PRO_MONTHLY_ID, PRO_TRIAL_ID, seed

pytestmark = pytest.mark.subscription


def test_seed_is_idempotent_and_creates_contract_rows(app, client):
    first = seed()
    second = seed()
    assert first["plans_created"] == 4 and first["users_created"] == 2
    assert second == {"plans_created": 0, "users_created": 0}
    plans = {p["id"]: p for p in client.get("/v1/plans").json}
    pro, trial = plans[str(PRO_MONTHLY_ID)], plans[str(PRO_TRIAL_ID)]
    assert pro["price_cents"] == 2900 and pro["currency"] == "USD" and pro["billing_interval"] == "month"
    assert pro["feature_limits"]["api_calls"] == 10000
    assert trial["trial_days"] == 14 and trial["converts_to_plan_id"] == str(PRO_MONTHLY_ID)
    assert "api_calls" in trial["feature_limits"]


def test_get_plan_and_unknown_plan(client, seeded):
    assert client.get(f"/v1/plans/{PRO_MONTHLY_ID}").json["name"] == "Pro"
    assert client.get("/v1/plans/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/v1/plans/not-a-uuid").status_code == 404


def test_seed_cli(app):
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0 and "4 plans" in result.output
    again = app.test_cli_runner().invoke(args=["seed"])
    assert "0 plans and 0 users" in again.output


@pytest.mark.parametrize("which", ["client", "payment_client"])
def test_openapi_and_swagger_ui_are_local(request, which):
    c = request.getfixturevalue(which)
    spec = c.get("/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "/v1/health/detailed" in spec["paths"]
    page = c.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page and "//cdn" not in page and "https://" not in page
    asset = c.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_auth_paths_are_documented_with_bearer(client):
    spec = client.get("/openapi.json").json
    assert spec["paths"]["/v1/auth/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "/v1/auth/register" in spec["paths"]
