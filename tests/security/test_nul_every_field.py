"""A NUL character in every string field of every operation of both OpenAPI documents is a 422
naming that field (issue #12), never a 500: the body is built from the document itself, so a
new operation or field is covered without touching this test."""
import itertools
import json
import uuid

import pytest

from core.security import signature_headers

pytestmark = pytest.mark.security
METHODS = ("post", "put", "patch", "delete", "get")


def _resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _sample(spec, schema):
    """A value of the schema's type: every documented property filled in, read-only ones left out."""
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = {name: sub for name, sub in schema.get("properties", {}).items()
                 if not _resolve(spec, sub).get("readOnly")}
        return {name: _sample(spec, sub) for name, sub in props.items()} if props else {"key": "x"}
    if kind == "array":
        return [_sample(spec, schema.get("items", {"type": "string"}))]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return {"uuid": str(uuid.uuid4()), "email": "nul@example.com",
            "date-time": "2026-01-01T00:00:00+00:00"}.get(schema.get("format"), "x")


def _string_paths(value, path=()):
    if isinstance(value, dict):
        return list(itertools.chain.from_iterable(_string_paths(v, path + (k,)) for k, v in value.items()))
    if isinstance(value, list):
        return list(itertools.chain.from_iterable(_string_paths(v, path + (i,)) for i, v in enumerate(value)))
    return [path] if isinstance(value, str) else []


def _with_nul(body, path):
    body = json.loads(json.dumps(body))
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "x\u0000y"
    return body


def _url(spec, route, op):
    params = [p for p in op.get("parameters", []) + spec["paths"][route].get("parameters", []) if p["in"] == "path"]
    for param in params:
        fill = 1 if param["schema"].get("type") == "integer" else str(uuid.uuid4())
        route = route.replace("{" + param["name"] + "}", str(fill))
    return route


def _operations(spec):
    for route, item in spec["paths"].items():
        for method in METHODS:
            content = item.get(method, {}).get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield route, method, item[method], content["application/json"]["schema"]


def _cases(client):
    spec = client.get("/openapi.json").json
    for route, method, op, schema in _operations(spec):
        body = _sample(spec, schema)
        for path in _string_paths(body):
            yield f"{method.upper()} {route} {'.'.join(map(str, path))}", method, _url(spec, route, op), \
                _with_nul(body, path), path


def _headers(settings, raw, admin_headers):
    return {**admin_headers, "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4()),
            "X-Service-Token": settings.service_to_service_secret,
            **signature_headers(settings.webhook_signing_secret, raw)}


def _named(errors, path):
    node = errors.get("json", {})
    for part in path:
        if not isinstance(node, dict) or str(part) not in {str(k) for k in node}:
            return False
        node = node[next(k for k in node if str(k) == str(part))]
    return True


@pytest.mark.parametrize("which", ["client", "payment_client"])
def test_nul_in_every_string_field_is_422_naming_it(request, which, seeded, make_user, settings):
    c = request.getfixturevalue(which)
    _, admin = make_user("nul-admin@example.com", role="admin")
    cases = list(_cases(c))
    assert len(cases) >= (17 if which == "client" else 29), [name for name, *_ in cases]
    wrong = []
    for name, method, url, body, path in cases:
        raw = json.dumps(body).encode()
        r = c.open(url, method=method.upper(), data=raw, headers=_headers(settings, raw, admin))
        if r.status_code != 422 or not _named(r.json.get("errors", {}), path):
            wrong.append((name, r.status_code, r.get_data(as_text=True)[:200]))
    assert not wrong, wrong
