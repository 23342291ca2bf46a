"""The ceilings `make bench` measures the product against: four tiny Flask apps.

    gunicorn -c gunicorn.conf.py bench.baseline_apps:bare         # GET /ping
    gunicorn -c gunicorn.conf.py bench.baseline_apps:jwt          # + a JWT check
    gunicorn -c gunicorn.conf.py bench.baseline_apps:jwt_evalsha  # + one Redis EVALSHA
    gunicorn -c gunicorn.conf.py bench.baseline_apps:jwt_pg       # + one PostgreSQL primary-key read
    gunicorn -c gunicorn.conf.py bench.baseline_apps:events_evalsha  # bare + a JSON batch, one EVALSHA

Each adds one thing to the one before, configured exactly as the product configures it
(flask-jwt-extended with the audience, algorithm and PyJWT segment check of core/tokens.py, the Redis client
options of core/extensions.py, the engine options of core/app.py), so "product / ceiling"
says how much the product's own code costs on top of the stack it cannot avoid.
Every app answers GET /ping; `bare` also answers any POST with 200 (the local webhook
receiver of the RQ delivery benchmark).
"""
from __future__ import annotations

from flask import Flask, request
from flask_jwt_extended import JWTManager, get_jwt_identity, jwt_required
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core import tokens
from core.app import _sqlalchemy_config
from core.extensions import RedisExtension
from core.settings import load_settings

# Check-and-increment against a limit: the same shape (one key, one ARGV limit) as a usage counter.
COUNTER_LUA = """
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if used > tonumber(ARGV[2]) then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return -1
end
return used
"""
LIMIT = 2 ** 62


class _Base(DeclarativeBase):
    pass


baseline_db = SQLAlchemy(model_class=_Base)


class BenchUser(baseline_db.Model):
    """A two-column view of the product's users table: the cheapest primary-key read of a real row."""
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]


def _bare(settings=None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.json.sort_keys = False

    @app.get("/ping")
    def ping():
        return {"status": "ok"}

    @app.post("/<path:anything>")
    def receive(anything):
        request.get_data()
        return {"received": True}

    return app


def _with_jwt(settings=None) -> Flask:
    app = _bare(settings)
    settings = app.config["SETTINGS"]
    # The product's JWT settings on this app's own JWTManager: no blocklist loader.
    app.config.update(tokens.signing_config(settings))
    JWTManager(app)

    @app.get("/jwt")
    @jwt_required()
    def check():
        return {"user_id": get_jwt_identity()}

    return app


def _with_evalsha(settings=None) -> Flask:
    app = _with_jwt(settings)
    RedisExtension().init_app(app)
    client = app.extensions["redis"]
    script = client.register_script(COUNTER_LUA)  # EVALSHA, falling back to EVAL once

    @app.post("/evalsha")
    @jwt_required()
    def use():
        used = script(keys=[f"bench:{{{get_jwt_identity()}}}:api_calls"], args=[1, LIMIT])
        return {"allowed": used >= 0, "used": used}

    return app


def _with_pg(settings=None) -> Flask:
    app = _with_jwt(settings)
    app.config.update(_sqlalchemy_config(app.config["SETTINGS"]))
    baseline_db.init_app(app)

    @app.get("/pg")
    @jwt_required()
    def read():
        user = baseline_db.session.get(BenchUser, int(get_jwt_identity()))
        return {"id": user.id, "email": user.email}

    return app


def _events_evalsha(settings=None) -> Flask:
    """The ceiling of POST /v1/usage/events: read the JSON batch, count it with one EVALSHA, answer."""
    app = _bare(settings)
    RedisExtension().init_app(app)
    script = app.extensions["redis"].register_script(COUNTER_LUA)

    @app.post("/events")
    def events():
        batch = request.get_json()["events"]
        used = script(keys=["bench:{events}:api_calls"], args=[len(batch), LIMIT])
        return {"accepted": len(batch), "used": used}

    return app


# name -> builder(settings=None); tests build them on the test settings.
BUILDERS = {"bare": _bare, "jwt": _with_jwt, "jwt_evalsha": _with_evalsha, "jwt_pg": _with_pg,
            "events_evalsha": _events_evalsha}


def __getattr__(name: str):
    # Built on first access, like wsgi.py: gunicorn imports only the one it serves.
    if name in BUILDERS:
        app = BUILDERS[name]()
        globals()[name] = app
        return app
    raise AttributeError(name)
