"""core.jwt_segments: PyJWT's base64url segment check at C speed must give PyJWT's own verdicts."""
import base64
import itertools
import os

import pytest
from jwt import api_jws
from jwt.exceptions import DecodeError

from core import jwt_segments

pytestmark = [pytest.mark.security]


def _verdict(fn, segment: bytes):
    try:
        return ("ok", fn(segment, "payload"))
    except DecodeError as exc:
        return ("refused", str(exc))


def _segments():
    canonical = [base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=") for n in range(0, 40)]
    yield from canonical
    yield from (base64.urlsafe_b64encode(os.urandom(n)) for n in range(1, 12))  # with "=" padding
    yield from (b"eyJhbGciOiJIUzI1NiJ9" + tail for tail in (b"=", b"==", b"===", b"====", b"=a", b"a="))
    junk = [b"!", b"+", b"/", b" ", b"\n", b".", b"\x00", b"\xff", "é".encode()]
    for good, bad in itertools.product(canonical[4:12], junk):
        yield good + bad
        yield bad + good
        yield good[:2] + bad + good[2:]
    yield b"!!!!"  # GHSA-hxm8-2xgr-2p9m
    yield b"A"  # length % 4 == 1
    yield b"AB"  # non-canonical: "AB" decodes to one byte that encodes as "AA"
    yield b"QUJ"  # non-canonical trailing bits
    yield b"QUI"


def test_same_verdict_as_pyjwt_on_every_segment():
    original = jwt_segments.original()
    assert original is not jwt_segments.decode_segment
    checked = 0
    for segment in _segments():
        assert _verdict(jwt_segments.decode_segment, segment) == _verdict(original, segment), segment
        checked += 1
    assert checked > 250


def test_installed_by_configure_jwt(app):
    # The app fixture ran configure_jwt: PyJWT now uses the fast check.
    assert jwt_segments.install() is True
    assert api_jws.PyJWS._decode_base64url_segment is jwt_segments.decode_segment


def test_a_token_with_junk_in_a_segment_is_still_refused(client, make_user):
    _, headers = make_user()
    token = headers["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    for forged in (f"{header}.{payload}!.{signature}", f"{header}.{payload}.{signature}!!!!",
                   f"{header}.{payload}====.{signature}"):
        response = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401, forged
    ok = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
