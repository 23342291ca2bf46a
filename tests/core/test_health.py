"""Health endpoints on both services, including a dependency outage and recovery."""
import pytest


@pytest.mark.parametrize("which,name", [("client", "subscription-service"),
                                        ("payment_client", "payment-service")])
def test_health_endpoints_shape(request, which, name):
    c = request.getfixturevalue(which)
    assert c.get("/v1/health").json == {"status": "healthy", "service": name}
    detailed = c.get("/v1/health/detailed")
    assert detailed.status_code == 200
    assert detailed.json["status"] == "healthy" and detailed.json["service"] == name
    assert {k: v["status"] for k, v in detailed.json["checks"].items()} == {
        "database": "healthy", "redis": "healthy", "queues": "healthy"}
    queues = c.get("/v1/health/queues").json
    assert set(queues["queues"]) == {"payments", "webhooks", "default"}
    assert set(queues["queues"]["default"]) == {"depth", "failed", "workers"}
    assert "heartbeat" in queues["periodic_jobs"]


def test_queue_depth_is_reported(client, app):
    from jobs.maintenance import heartbeat
    from core.queues import get_queue

    get_queue("default").enqueue(heartbeat)
    assert client.get("/v1/health/queues").json["queues"]["default"]["depth"] == 1


def _broken_app(**overrides):
    from tests.conftest import make_settings
    from subscription_app import create_app
    return create_app(make_settings(**overrides))


def test_database_down_is_503_naming_the_check():
    app = _broken_app(database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    r = app.test_client().get("/v1/health/detailed")
    assert r.status_code == 503
    assert r.json["status"] == "unhealthy"
    assert r.json["checks"]["database"]["status"] == "unhealthy"
    assert r.json["checks"]["redis"]["status"] == "healthy"


def test_redis_down_is_503_and_queues_503():
    app = _broken_app(redis_url="redis://127.0.0.1:1/0")
    c = app.test_client()
    r = c.get("/v1/health/detailed")
    assert r.status_code == 503
    assert r.json["checks"]["redis"]["status"] == "unhealthy"
    assert r.json["checks"]["queues"]["status"] == "unhealthy"
    assert c.get("/v1/health/queues").status_code == 503


def test_authenticated_request_with_redis_down_is_503_json(make_user):
    _, headers = make_user()
    app = _broken_app(redis_url="redis://127.0.0.1:1/0")
    r = app.test_client().get("/v1/auth/me", headers=headers)
    assert r.status_code == 503 and r.json["code"] == 503


def test_recovers_without_restart_when_the_database_returns(app, client):
    """Kill every server-side connection of the pool: the next check reconnects."""
    from sqlalchemy import text

    from core.extensions import db
    assert client.get("/v1/health/detailed").status_code == 200
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        conn.commit()
    assert client.get("/v1/health/detailed").status_code == 200
