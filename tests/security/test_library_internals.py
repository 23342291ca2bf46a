"""The product uses its libraries through their documented API only: no private attribute, no hook surgery.

Each patch of a library's internals made a benchmark a few percent better and broke silently on an
upgrade (issue #14); these tests keep them out.
"""
import inspect
import uuid

import pytest
from flask import Blueprint
from jwt import api_jws

from core.ratelimit import limiter

pytestmark = pytest.mark.security


def test_pyjwt_checks_segments_with_its_own_code(app):
    segment_check = inspect.getattr_static(api_jws.PyJWS, "_decode_base64url_segment")
    assert segment_check.__func__.__module__ == "jwt.api_jws"


def test_a_blueprint_limit_is_enforced_through_flask_limiters_own_hook(settings):
    from subscription_app import create_app

    app = create_app(settings)
    probe = Blueprint(f"limit_probe_{uuid.uuid4().hex[:8]}", __name__)
    probe.get("/limit-probe")(lambda: {"ok": True})
    limiter.limit("2 per minute")(probe)
    app.register_blueprint(probe)
    client = app.test_client()
    statuses = [client.get("/limit-probe").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = client.get("/limit-probe")
    assert refused.json["code"] == 429 and refused.json["message"] and "Retry-After" in refused.headers
