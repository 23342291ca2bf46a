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


def _app_with_route(settings, view):
    from subscription_app import create_app
    app = create_app(settings)
    app.add_url_rule("/__redis_for_test", view_func=view)
    return app


@pytest.mark.parametrize("reply,expected", [
    ("CLUSTERDOWN The cluster is down", "ClusterDownError"),
    ("TRYAGAIN Multiple keys request during rehashing of slot", "TryAgainError"),
    ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", "MasterDownError"),
])
def test_redis_cluster_unavailable_is_503_with_retry_after(settings, reply, expected):
    from core.extensions import get_redis
    raised = []

    def view():
        try:  # the real Redis answers with this error reply; redis-py raises its exception for it
            get_redis().eval("return redis.error_reply(ARGV[1])", 0, reply)
        except Exception as exc:
            raised.append(type(exc).__name__)
            raise

    r = _app_with_route(settings, view).test_client().get("/__redis_for_test", headers={"X-Request-ID": "rid-1"})
    assert raised == [expected]
    _assert_shape(r, 503)
    assert r.json["request_id"] == "rid-1" and int(r.headers["Retry-After"]) > 0


def test_redis_cluster_slot_not_covered_is_503(settings):
    import redis

    def view():  # what RedisCluster raises while a failover leaves a slot without a master
        raise redis.exceptions.SlotNotCoveredError('Slot "42" is not covered by the cluster.')

    r = _app_with_route(settings, view).test_client().get("/__redis_for_test")
    _assert_shape(r, 503)
    assert int(r.headers["Retry-After"]) > 0 and r.json["request_id"]
