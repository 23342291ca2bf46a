"""Extension objects, created once at import and bound to an app with init_app."""
from __future__ import annotations

from datetime import datetime

import redis
from flask import Flask, current_app
from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, func
from sqlalchemy.orm import Mapped, mapped_column

# Stable constraint names, so Alembic migrations stay reviewable.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
jwt = JWTManager()


class TimestampMixin:
    """created_at and updated_at, both set by PostgreSQL."""
    created_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 nullable=False)
    updated_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now(), nullable=False)


class RedisExtension:
    """Holds the app's Redis client; redis-py reconnects by itself after an outage."""

    def init_app(self, app: Flask) -> None:
        settings = app.config["SETTINGS"]
        app.extensions["redis"] = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            retry_on_timeout=False,
        )


redis_ext = RedisExtension()


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]
