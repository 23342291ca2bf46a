"""The one JSON request-body parser of both services: hostile bodies are a 4xx, never a 500.

Flask's request.get_json (through BillingJSONProvider) and every flask-smorest schema
(through BillingParser) parse with `parse`, which refuses JSON nested more than MAX_DEPTH
levels and integers Python will not convert (400), and any string holding a NUL character,
which PostgreSQL cannot store (422 naming the field).
"""
from __future__ import annotations

import json

from flask.json.provider import DefaultJSONProvider
from marshmallow import missing
from webargs.flaskparser import FlaskParser, abort, is_json_request

from core.errors import ApiError

MAX_DEPTH = 32
NUL = "\u0000"
NUL_MESSAGE = "Must not contain the NUL character (\\u0000)."


def parse(raw: bytes | str):
    """The parsed body; malformed JSON raises json.JSONDecodeError / UnicodeDecodeError as json.loads does."""
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise ApiError(400, f"JSON body nested too deeply (at most {MAX_DEPTH} levels)") from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise ApiError(400, "JSON body has a number with too many digits") from None
    if _may_hold_nul(raw):
        _check(doc)
    else:
        _check_depth(doc)
    return doc


def _may_hold_nul(raw: bytes | str) -> bool:
    """Could a string of the parsed document hold NUL? Only through a \\u0000 escape or a NUL unit.

    JSON refuses a raw control character in a string, so in UTF-8 a NUL can only come from the escape;
    a body in UTF-16 or UTF-32 (json.loads detects them) has NUL bytes, and takes the full walk.
    """
    if isinstance(raw, str):
        return "\\u0000" in raw or NUL in raw
    return b"\\u0000" in raw or b"\x00" in raw


def _check(doc) -> None:
    """Walk the document without recursion: its depth, and every key and string in it."""
    errors: dict = {}
    stack = [(doc, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, (dict, list)) and depth > MAX_DEPTH:
            raise ApiError(400, f"JSON body nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(node, dict):
            for key, value in node.items():
                if NUL in key:
                    _add(errors, path + (key,))
                stack.append((value, path + (key,), depth + 1))
        elif isinstance(node, list):
            stack.extend((value, path + (index,), depth + 1) for index, value in enumerate(node))
        elif isinstance(node, str) and NUL in node:
            _add(errors, path)
    if errors:
        raise ApiError(422, "Validation failed", errors={"json": errors})


def _check_depth(doc) -> None:
    """The depth rule of `_check` alone, for a document without NUL: only containers are visited."""
    stack = [(doc, 1)] if isinstance(doc, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, f"JSON body nested too deeply (at most {MAX_DEPTH} levels)")
        values = node.values() if isinstance(node, dict) else node
        stack.extend((value, depth + 1) for value in values if isinstance(value, (dict, list)))


def _add(errors: dict, path: tuple) -> None:
    if not path:
        errors.setdefault("_schema", []).append(NUL_MESSAGE)
        return
    for part in path[:-1]:
        errors = errors.setdefault(part, {})
        if not isinstance(errors, dict):
            return  # a message is already recorded higher up
    errors[path[-1]] = [NUL_MESSAGE]


class BillingJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with `parse` for reading: request.get_json is guarded too."""

    sort_keys = False

    def loads(self, s, **kwargs):
        return parse(s)


class BillingParser(FlaskParser):
    """webargs' Flask parser reading JSON bodies with `parse`."""

    def load_json(self, req, schema):
        raw = req.get_data(cache=True)
        if not is_json_request(req) or not raw:
            return missing
        try:
            return parse(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            abort(400, exc=exc, messages={"json": ["Invalid JSON body."]})
