"""One JSON error shape for every error status, on both services."""
import pytest


def _assert_shape(r, code):
    assert r.status_code == code
    assert r.is_json
    assert r.json["code"] == code and isinstance(r.json["status"], str) and r.json["message"]
    assert "Traceback" not in r.get_data(as_text=True)


@pytest.mark.parametrize("which", ["client", "payment_client"])
def test_404_and_405(request, which):
    c = request.getfixturevalue(which)
    _assert_shape(c.get("/v1/does-not-exist"), 404)
    r = c.delete("/v1/health")
    _assert_shape(r, 405)
    assert "GET" in r.headers["Allow"]


def test_malformed_json_is_400(client):
    r = client.post("/v1/auth/register", data="{not json", content_type="application/json")
    _assert_shape(r, 400)


def test_wrong_content_type_is_4xx(client):
    r = client.post("/v1/auth/register", data="email=a", content_type="application/x-www-form-urlencoded")
    assert 400 <= r.status_code < 500


def test_json_array_body_is_422(client):
    _assert_shape(client.post("/v1/auth/register", json=[1, 2, 3]), 422)


def test_oversize_body_is_413(client, settings):
    body = '{"email": "a@b.co", "password": "' + "x" * (settings.max_content_length + 10) + '"}'
    _assert_shape(client.post("/v1/auth/register", data=body, content_type="application/json"), 413)


def test_request_id_is_echoed_or_generated(client):
    r = client.get("/v1/nope", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123" and r.json["request_id"] == "abc-123"
    generated = client.get("/v1/health").headers["X-Request-ID"]
    assert len(generated) == 32


def test_unhandled_exception_is_500_without_trace(settings):
    from subscription_app import create_app
    app = create_app(settings)

    @app.route("/__boom_for_test")
    def boom():
        raise RuntimeError("secret internals")

    r = app.test_client().get("/__boom_for_test")
    _assert_shape(r, 500)
    assert "secret internals" not in r.get_data(as_text=True)
