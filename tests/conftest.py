"""Fixtures: real PostgreSQL and Redis, a fresh schema per run, clean tables per test.

TEST_DATABASE_URL (default .../billing_test, created if missing) and TEST_REDIS_URL
(default redis db 15) keep tests away from development data. The schema is built by
running the real migrations once per session; after each test every table is
truncated and the test Redis database is flushed (only that database: never the
application's queues).
"""
from __future__ import annotations

import os

import psycopg2
import pytest
import redis as redis_lib
import time_machine
from psycopg2 import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.settings import Settings, load_settings

# Fixture modules shared by every suite: a test asks for their fixtures by name, with no import (a module
# comes after the ones it imports, so that pytest rewrites the asserts of each).
pytest_plugins = ["tests.support.live", "tests.support.browser", "tests.support.log_support",
                  "tests.support.payment_fixtures", "tests.support.billing_support", "tests.support.usage_support",
                  "tests.support.world",
                  "tests.support.admin_ui", "tests.support.integrations"]


def _per_worker(database_url: str, redis_url: str, worker: str | None) -> tuple[str, str]:
    """Each pytest-xdist worker gets its own database and Redis db, since tests truncate and flush them.

    gw0 keeps the configured ones; gwN appends `_gwN` to the database name and takes the Redis db N
    below the configured one (15 -> 14 would be the bench's, so the step skips it).
    """
    if not worker or worker == "gw0":
        return database_url, redis_url
    n = int(worker.removeprefix("gw"))
    db_url = make_url(database_url)
    db_url = db_url.set(database=f"{db_url.database}_{worker}")
    base, _, index = redis_url.rpartition("/")
    redis_db = int(index or 0) - n
    if redis_db <= 14 < int(index or 0):
        redis_db -= 1  # db 14 belongs to `make bench`
    if redis_db < 1:
        raise pytest.UsageError(f"no Redis db left for xdist worker {worker} below {redis_url}")
    return db_url.render_as_string(hide_password=False), f"{base}/{redis_db}"


TEST_DATABASE_URL, TEST_REDIS_URL = _per_worker(
    os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/billing_test"),
    os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    os.environ.get("PYTEST_XDIST_WORKER"),
)
# The two services reach each other in-process in the fast suite (tests/support/wsgi_transport.py).
SUBSCRIPTION_URL = "http://subscription.internal"
PAYMENT_URL = "http://payment.internal"


# Billing tests (marker `calendar`) run at a frozen, ticking instant, never at today's date. With
# --calendar (what `make test` passes) each runs at every instant below, where calendar bugs live
# (the issue's seven; each one more costs about a minute and a half of the suite).
DEFAULT_INSTANT = "2027-06-15T10:00:00+00:00"
CALENDAR_INSTANTS = {
    "jan31": "2028-01-31T12:00:00+00:00",
    "feb28": "2027-02-28T12:00:00+00:00",
    "feb29-leap": "2028-02-29T12:00:00+00:00",
    "mar31": "2027-03-31T12:00:00+00:00",
    "dec01": "2026-12-01T00:00:00+00:00",  # the month before has 30 days
    "dec31-last-second": "2026-12-31T23:59:59+00:00",
    "eu-dst-start": "2027-03-28T00:59:30+00:00",  # Europe springs forward at 01:00 UTC
}


def pytest_addoption(parser):
    parser.addoption("--calendar", action="store_true",
                     help="run the billing tests (marker `calendar`) at every instant of CALENDAR_INSTANTS")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("calendar") is None:
        return
    if metafunc.config.getoption("--calendar"):
        metafunc.parametrize("calendar_instant", list(CALENDAR_INSTANTS.values()), ids=list(CALENDAR_INSTANTS))
    else:
        metafunc.parametrize("calendar_instant", [DEFAULT_INSTANT], ids=["default-instant"])


@pytest.fixture
def calendar_instant():
    return None  # tests without the `calendar` marker keep the real clock


@pytest.fixture(autouse=True)
def _frozen_calendar(calendar_instant):
    """The whole process starts at `calendar_instant` and time flows on from there."""
    if calendar_instant is None:
        yield None
        return
    with time_machine.travel(calendar_instant, tick=True) as traveller:
        yield traveller


def _ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = psycopg2.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                             password=parsed.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(parsed.database)))
    admin.close()


def make_settings(**overrides) -> Settings:
    base = load_settings().with_overrides(
        app_env="test", database_url=TEST_DATABASE_URL, redis_url=TEST_REDIS_URL, usage_redis_url="",
        bcrypt_rounds=4, gateway_min_delay_ms=0, gateway_max_delay_ms=0, gateway_success_rate=1.0,
        subscription_service_url=SUBSCRIPTION_URL, payment_service_url=PAYMENT_URL,
    )
    return base.with_overrides(**overrides)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def _schema(settings):
    """Fresh schema built by the real migrations, once per test session."""
    _ensure_database(settings.database_url)
    from flask_migrate import upgrade

    from subscription_app import create_app

    app = create_app(settings)
    with app.app_context():
        from core.extensions import db
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return True


@pytest.fixture(scope="session")
def _apps(settings, _schema):
    from jobs.apps import create_app

    sub, pay = create_app("subscription", settings), create_app("payment", settings)
    sub.testing = pay.testing = True
    return {"subscription": sub, "payment": pay}


@pytest.fixture(autouse=True)
def in_process_services(_apps, monkeypatch):
    """core.http calls to the other service go to its real app, in this process."""
    from core import http
    from tests.support.wsgi_transport import FlaskAdapter

    adapters = {"subscription": FlaskAdapter(_apps["subscription"]), "payment": FlaskAdapter(_apps["payment"])}
    real_session = http.session

    def session():
        s = real_session()
        if not getattr(s, "_in_process", False):
            s.mount(SUBSCRIPTION_URL, adapters["subscription"])
            s.mount(PAYMENT_URL, adapters["payment"])
            s._in_process = True
        return s

    monkeypatch.setattr(http, "session", session)
    yield adapters
    s = real_session()
    s.adapters.pop(SUBSCRIPTION_URL, None)
    s.adapters.pop(PAYMENT_URL, None)
    s._in_process = False


@pytest.fixture
def app(_apps):
    """pytest-flask's app: the subscription service (its client is `client`)."""
    yield _apps["subscription"]
    _clean(_apps["subscription"])


@pytest.fixture
def payment_app(_apps):
    return _apps["payment"]


@pytest.fixture
def payment_client(payment_app):
    return payment_app.test_client()


@pytest.fixture
def redis_conn(settings):
    conn = redis_lib.Redis.from_url(settings.redis_url)
    yield conn
    conn.close()


def _clean(app) -> None:
    """Empty every table and restart every sequence, as TRUNCATE ... RESTART IDENTITY would.

    DELETE in foreign-key order, not TRUNCATE: tables hold a handful of rows, and TRUNCATE makes new
    files for each of the ~40 tables and their indexes, which was most of the time between tests.
    """
    from core.extensions import db

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(_clean_sql(conn))
        app.extensions["redis"].flushdb()
    from core import clock
    clock._cache["read_at"] = 0.0


_CLEAN_SQL: list[str] = []


def _clean_sql(conn) -> str:
    if not _CLEAN_SQL:
        from core.extensions import db

        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        sequences = conn.exec_driver_sql(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'S' "
            "AND c.relnamespace = 'public'::regnamespace").scalars().all()
        _CLEAN_SQL.append("".join(f'DELETE FROM "{t}";' for t in tables)
                          + "".join(f'ALTER SEQUENCE "{q}" RESTART;' for q in sequences))
    return _CLEAN_SQL[0]


@pytest.fixture
def seeded(app):
    from subscription_app.seed import seed
    seed()
    return True


@pytest.fixture
def make_user(app):
    """Create a user through the service layer; returns (user, auth headers)."""
    from core import tokens
    from subscription_app import accounts

    counter = {"n": 0}

    def _make(email: str | None = None, password: str = "correct-horse-1", role: str = "user"):
        counter["n"] += 1
        user = accounts.register(email or f"user{counter['n']}@example.com", password, role=role)
        pair = tokens.issue_tokens(user)
        return user, {"Authorization": f"Bearer {pair['access_token']}"}

    return _make


@pytest.fixture
def service_headers(settings):
    return {"X-Service-Token": settings.service_to_service_secret}
