"""rq-dashboard behind basic auth, showing the project's queues."""
import base64

import pytest

from core.settings import DEV_DASHBOARD_PASSWORD, SettingsError
from core.queues import QUEUE_NAMES
from scripts.dashboard import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.security


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def dashboard(redis_conn):
    app = create_app(make_settings(dashboard_username="ops", dashboard_password="s3cret-dashboard-pw"))
    app.testing = True
    yield app.test_client()
    redis_conn.flushdb()  # the test Redis db only


GOOD = basic("ops", "s3cret-dashboard-pw")


@pytest.mark.parametrize("path", ["/", "/0/data/queues.json", "/static/css/bootstrap.min.css", "/favicon.ico"])
def test_401_without_credentials(dashboard, path):
    r = dashboard.get(path)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("headers", [basic("ops", "wrong"), basic("admin", "s3cret-dashboard-pw"),
                                     basic("ops", ""), {"Authorization": "Bearer s3cret-dashboard-pw"}])
def test_401_with_wrong_credentials(dashboard, headers):
    assert dashboard.get("/", headers=headers).status_code == 401


def test_200_with_credentials_and_the_project_queues_listed(dashboard):
    r = dashboard.get("/", headers=GOOD)
    assert r.status_code == 200 and b"<title>RQ dashboard</title>" in r.data
    assert r.headers["X-Frame-Options"] == "DENY"
    for asset in ("/static/css/bootstrap.min.css", "/static/js/jquery-3.5.1.min.js"):
        assert dashboard.get(asset, headers=GOOD).status_code == 200, asset
    data = dashboard.get("/0/data/queues.json", headers=GOOD)
    assert data.status_code == 200
    assert {q["name"] for q in data.json["queues"]} >= set(QUEUE_NAMES)


def test_queues_listed_again_after_redis_forgot_them(dashboard, redis_conn):
    redis_conn.flushdb()
    data = dashboard.get("/0/data/queues.json", headers=GOOD)
    assert {q["name"] for q in data.json["queues"]} >= set(QUEUE_NAMES)


def test_cross_origin_post_refused_even_with_credentials(dashboard):
    r = dashboard.post("/queue/default/failed/empty", headers={**GOOD, "Origin": "https://evil.example"})
    assert r.status_code == 403
    same = dashboard.post("/queue/default/failed/empty", headers={**GOOD, "Origin": "http://localhost"})
    assert same.status_code == 200


def test_production_refuses_the_default_password():
    with pytest.raises(SettingsError, match="RQ_DASHBOARD_PASSWORD"):
        create_app(make_settings(app_env="production", jwt_secret_key="j" * 40,
                                 service_to_service_secret="s" * 40, webhook_signing_secrets=("w" * 40,),
                                 dashboard_password=DEV_DASHBOARD_PASSWORD))


def test_healthz_answers_without_credentials_and_tells_nothing(dashboard):
    r = dashboard.get("/healthz")
    assert r.status_code == 200 and r.data == b"ok\n"
    assert dashboard.get("/healthz/../").status_code == 401


def test_periodic_jobs_page_lists_every_job_with_its_next_run(dashboard, redis_conn):
    from rq.job import Job

    from jobs import schedule, scheduler

    scheduler.register(scheduler.BillingScheduler(connection=redis_conn))
    Job.fetch(schedule.JOB_ID_PREFIX + "heartbeat", connection=redis_conn).delete()  # the dashboard's "delete"
    assert dashboard.get("/periodic.json").status_code == 401
    data = dashboard.get("/periodic.json", headers=GOOD).json
    assert set(data) == {entry.job_id for entry in schedule.PERIODIC_JOBS}
    assert data["outbox-sweep"]["next_run"] is not None and data["outbox-sweep"]["interval_seconds"] == 15
    assert data["heartbeat"]["next_run"] is None
    page = dashboard.get("/periodic", headers=GOOD)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert all(entry.job_id in text for entry in schedule.PERIODIC_JOBS)
    assert "re-registers it on its next poll" in text
    assert b'href="/periodic"' in dashboard.get("/", headers=GOOD).data  # linked from rq-dashboard's page
