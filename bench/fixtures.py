"""The bench database: migrated, emptied, seeded, and filled with bench users and tokens.

Runs in the bench runner's own process, inside the subscription service's app context
built on the bench settings. Refuses any database whose name lacks "bench": it empties
every table.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta

from flask_jwt_extended import create_access_token
from flask_migrate import upgrade
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import MethodNotAllowed, NotFound

from core import clock
from core.extensions import db
from core.logging import configure_logging
from core.security import hash_password
from core.settings import Settings
from payment_app import create_app as create_payment
from subscription_app import create_app as create_subscription
from subscription_app.models import Subscription, User
from subscription_app.seed import ENTERPRISE_MONTHLY_ID, seed

BENCH_PASSWORD = "bench-password-1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def inprocess_env(env=None) -> dict:
    """Settings for the in-process tools (bench.profile): the bench database and Redis db."""
    env = os.environ if env is None else env
    return {"DATABASE_URL": env.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/billing_bench"),
            "REDIS_URL": env.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"), "USAGE_REDIS_URL": "",
            "BCRYPT_ROUNDS": "4", "LOG_LEVEL": env.get("LOG_LEVEL", "INFO")}


def ensure_services(database_url: str, redis_url: str) -> None:
    """Start local PostgreSQL/Redis if they are down and create the bench database if it is missing."""
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "services.py"), "ensure", "--database-url",
                    database_url, "--redis-url", redis_url], check=True)


def quiet_logging(settings: Settings) -> None:
    """Log lines are built (their cost counts) but written to /dev/null; alembic's console handler goes."""
    handler = configure_logging(settings, "subscription-service", stream=open(os.devnull, "w"))
    logging.getLogger().handlers[:] = [handler]


def one_subscriber(settings: Settings, prefix: str):
    """For the in-process tools: services up, the bench database emptied and seeded, the Redis db
    flushed, and one user on Enterprise; (subscription app, that user's access token)."""
    guard_database(settings.database_url)
    ensure_services(settings.database_url, settings.redis_url)
    sub, _ = build_apps(settings)
    reset_database(sub)
    sub.extensions["redis"].flushdb()
    quiet_logging(settings)
    return sub, create_users(sub, prefix, 1, subscribed_plan_id=ENTERPRISE_MONTHLY_ID)[0]["token"]


def guard_database(url: str) -> None:
    name = make_url(url).database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to empty database {name!r}: the bench database's name must contain 'bench'")


def build_apps(settings: Settings):
    return create_subscription(settings), create_payment(settings)


def reset_database(app) -> dict:
    """Migrate to the head, empty every table (the bench's own database), seed plans and users."""
    guard_database(app.config["SQLALCHEMY_DATABASE_URI"])
    with app.app_context():
        upgrade()
        existing = set(db.session.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        tables = [t for t in existing if t != "alembic_version"]
        if tables:
            db.session.execute(text("TRUNCATE {} RESTART IDENTITY CASCADE".format(
                ", ".join(f'"{t}"' for t in sorted(tables)))))
            db.session.commit()
        counts = seed()
        db.session.remove()
    return {"tables": len(tables), **counts}


def create_users(app, prefix: str, count: int, *, subscribed_plan_id: uuid.UUID | None = None) -> list[dict]:
    """Insert `count` users (one bcrypt hash shared by all, at the configured cost) and their access tokens.

    With `subscribed_plan_id`, each gets an active subscription to that plan for this period.
    """
    settings = app.config["SETTINGS"]
    with app.app_context():
        password_hash = hash_password(BENCH_PASSWORD, settings.bcrypt_rounds)
        rows = [{"email": f"{prefix}-{i}@bench.example", "password_hash": password_hash, "role": "user",
                 "first_name": "Bench", "last_name": str(i)} for i in range(count)]
        ids = list(db.session.execute(insert(User).returning(User.id), rows).scalars())
        db.session.commit()
        if subscribed_plan_id is not None:
            now = clock.utcnow()
            try:
                db.session.execute(insert(Subscription), [
                    {"id": uuid.uuid4(), "user_id": uid, "plan_id": subscribed_plan_id, "status": "active",
                     "current_period_start": now, "current_period_end": now + timedelta(days=30),
                     "billing_cycle_anchor": now} for uid in ids])
                db.session.commit()
            except SQLAlchemyError as exc:  # a later migration may need more columns: report, don't crash
                db.session.rollback()
                print(f"[bench] could not give the {prefix} users a subscription: {exc.__class__.__name__}: "
                      f"{str(exc).splitlines()[0][:200]}", flush=True)
        users = []
        for uid, row in zip(ids, rows):
            token = create_access_token(identity=str(uid), additional_claims={"tv": 0, "role": "user"})
            users.append({"id": uid, "email": row["email"], "token": token})
        db.session.remove()
    return users


def route_exists(app, method: str, path: str) -> bool:
    """Does this branch's app route `method path`? (A missing one is skipped, not failed.)"""
    adapter = app.url_map.bind("127.0.0.1")
    try:
        adapter.match(path.split("?")[0], method=method)
    except (NotFound, MethodNotAllowed):
        return False
    return True


def backend_pids(app) -> list[int]:
    """PostgreSQL backend processes serving the bench database (the servers' pooled connections)."""
    with app.app_context():
        pids = list(db.session.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalars())
        db.session.remove()
    return pids
