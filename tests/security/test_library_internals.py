"""The product uses its libraries through their documented API only: no private attribute, no hook surgery.

Each patch of a library's internals made a benchmark a few percent better and broke silently on an
upgrade (issue #14); these tests keep them out.
"""
import ast
import inspect
import pathlib
import uuid

import pytest
from flask import Blueprint
from jwt import api_jws

from core.ratelimit import limiter

pytestmark = pytest.mark.security

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRODUCT = ("core", "subscription_app", "payment_app", "jobs")
# werkzeug documents LocalProxy._get_current_object as its public way to reach the proxied object;
# marshmallow documents overriding Field._serialize/_deserialize as the way to write a custom field.
DOCUMENTED_PRIVATE = {"_get_current_object", "_serialize", "_deserialize"}
# Flask: "This data structure is internal. It should not be modified directly."
FLASK_HOOK_LISTS = {"before_request_funcs", "after_request_funcs", "teardown_request_funcs"}


def _project_names(tree: ast.Module) -> set[str]:
    """Names a module binds to the project's own modules (their private names are ours to use)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PRODUCT:
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] in PRODUCT)
    return names


def _reaches_into_a_library(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    ours = _project_names(tree) | {"self", "cls"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        base = ast.unparse(node.value).split(".")[0].split("(")[0]
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        if (private and base not in ours and node.attr not in DOCUMENTED_PRIVATE) or node.attr in FLASK_HOOK_LISTS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_product_code_touches_no_private_library_attribute_nor_flask_hook_list():
    files = [p for package in PRODUCT for p in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 20  # the scan sees the product
    found = [hit for path in files for hit in _reaches_into_a_library(path)]
    assert found == []


def test_the_scan_catches_a_patch(tmp_path):
    patched = tmp_path / "patch.py"
    patched.write_text("from jwt import api_jws\napi_jws.PyJWS._decode_base64url_segment = staticmethod(len)\n"
                       "def init(app):\n    app.before_request_funcs[None] = []\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert len(_reaches_into_a_library(patched)) == 2
    finally:
        ROOT = saved


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
