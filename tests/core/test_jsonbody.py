"""core.jsonbody.parse: a body without a NUL escape skips the string walk, and loses none of the guard."""
import json

import pytest

from core.errors import ApiError
from core.jsonbody import MAX_DEPTH, NUL_MESSAGE, parse


def _nested(levels: int, leaf: str = "x") -> str:
    return "[" * levels + json.dumps(leaf) + "]" * levels


def _refused(raw) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse(raw)
    return caught.value


@pytest.mark.parametrize("leaf", ["x", "x\u0000"])
def test_one_level_too_deep_is_400_with_or_without_a_nul_in_the_body(leaf):
    # With a NUL the full walk runs; without, the containers-only one: both stop at the same depth.
    deep = _refused(_nested(MAX_DEPTH + 1, leaf).encode())
    assert deep.code == 400 and "nested" in deep.message
    # One deep branch among many shallow ones is found wherever it sits (its deepest list at level 33).
    wide = {"events": [{"event_id": "e"}] * 50 + [json.loads(_nested(MAX_DEPTH - 1, leaf))], "n": 1}
    assert _refused(json.dumps(wide).encode()).code == 400


def test_the_deepest_allowed_document_passes_the_depth_rule_on_both_walks():
    assert parse(_nested(MAX_DEPTH).encode()) == json.loads(_nested(MAX_DEPTH))  # a string does not count
    at_limit_with_nul = _refused(_nested(MAX_DEPTH, "x\u0000").encode())
    assert at_limit_with_nul.code == 422  # past the depth rule, stopped by the NUL
    wide = {"events": [{"event_id": "e"}] * 50 + [json.loads(_nested(MAX_DEPTH - 2))], "n": 1}
    assert parse(json.dumps(wide).encode()) == wide  # its deepest list at level 32


def test_a_nul_escape_in_a_key_or_a_value_is_named():
    err = _refused(b'{"events": [{"ok": 1}, {"event_id": "a\\u0000"}], "k\\u0000": 1}')
    assert err.code == 422
    assert err.errors == {"json": {"events": {1: {"event_id": [NUL_MESSAGE]}}, "k\u0000": [NUL_MESSAGE]}}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le"])
def test_a_body_in_utf16_or_utf32_takes_the_full_walk(encoding):
    # Such a body's escape is spread over NUL bytes: b"\\u0000" is not in it, but a NUL byte is.
    raw = json.dumps({"name": "a\u0000b"}).encode(encoding)
    assert b"\\u0000" not in raw
    err = _refused(raw)
    assert err.code == 422 and err.errors == {"json": {"name": [NUL_MESSAGE]}}
    assert parse(json.dumps({"name": "ab"}).encode(encoding)) == {"name": "ab"}


def test_an_escaped_backslash_before_u0000_is_not_a_nul():
    # The raw text holds "\u0000" after an escaped backslash: the full walk runs and finds no NUL.
    assert parse(b'{"path": "C:\\\\u0000"}') == {"path": "C:\\u0000"}
    assert parse('{"path": "C:\\\\u0000"}') == {"path": "C:\\u0000"}


def test_a_str_body_is_guarded_like_bytes():
    assert _refused('{"a": "\\u0000"}').errors == {"json": {"a": [NUL_MESSAGE]}}
    assert _refused(_nested(MAX_DEPTH + 1)).code == 400
