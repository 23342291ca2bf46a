"""The benchmark's baseline: the least a metered endpoint must do.

A bare Flask app under the same gunicorn settings: flask-jwt-extended verifies the token
(same secret, algorithm and audience as the services, no revocation lookup) and one
Redis EVALSHA increments a counter. `gunicorn -c gunicorn.conf.py bench.baseline_app:app`
"""
from __future__ import annotations

import os

import redis
from flask import Flask, jsonify, request
from flask_jwt_extended import JWTManager, get_jwt_identity, jwt_required

from core.settings import load_settings

SCRIPT = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def create_app() -> Flask:
    settings = load_settings()
    app = Flask(__name__)
    app.config.update(JWT_SECRET_KEY=settings.jwt_secret_key, JWT_ALGORITHM=settings.jwt_algorithm,
                      JWT_DECODE_ALGORITHMS=[settings.jwt_algorithm], JWT_DECODE_AUDIENCE=settings.jwt_audience,
                      JWT_TOKEN_LOCATION=["headers"])
    JWTManager(app)
    client = redis.Redis.from_url(os.environ.get("USAGE_REDIS_URL") or settings.redis_url)
    sha = client.script_load(SCRIPT)

    @app.post("/v1/usage/features/<feature>/use")
    @jwt_required()
    def use(feature):
        delta = int(request.get_json()["delta"])
        used = client.evalsha(sha, 1, f"bench:{{{get_jwt_identity()}}}:{feature}", delta)
        return jsonify(feature=feature, used=used)

    @app.get("/health")
    def health():
        return jsonify(status="healthy")

    return app


app = create_app()
