"""PyJWT's base64url segment check, at C speed and with the same verdicts.

PyJWT 2.15 validates every segment of every token byte by byte in a Python generator
(`any(c not in ALPHABET for c in segment)`, the fix for GHSA-hxm8-2xgr-2p9m), and
flask-jwt-extended loads each token twice (headers, then the claims): a 300-byte access
token cost ~0.15 ms of CPU per request in that loop alone, the largest single item in a
`cProfile` of `POST /v1/usage/features/api_calls/use`. `bytes.translate(None, ALPHABET)`
deletes the alphabet in C; whatever is left is junk, so the check rejects exactly what
PyJWT's rejects (tests/security/test_jwt_segments.py compares both on valid, padded,
non-canonical and junk segments).

`install()` replaces `PyJWS._decode_base64url_segment` (a staticmethod) process-wide,
for the product's apps and for `make bench`'s ceilings alike. It leaves PyJWT alone if
the private method it replaces is missing or has changed shape, so an upgrade can only
make it a no-op, never loosen the check.
"""
from __future__ import annotations

import binascii
import inspect

from jwt import api_jws
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_original = None


def decode_segment(segment: bytes, name: str) -> bytes:
    """PyJWS._decode_base64url_segment, with the alphabet test done by bytes.translate."""
    padding = 0
    stripped = segment
    while stripped.endswith(b"="):
        stripped = stripped[:-1]
        padding += 1
        if padding > 2:
            raise DecodeError(f"Invalid {name} padding")
    if padding and len(segment) % 4 != 0:
        raise DecodeError(f"Invalid {name} padding")
    if len(stripped) % 4 == 1 or stripped.translate(None, ALPHABET):
        raise DecodeError(f"Invalid {name} padding")
    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err
    if base64url_encode(decoded) != stripped:  # non-canonical trailing bits
        raise DecodeError(f"Invalid {name} padding")
    return decoded


def original():
    """PyJWT's own function (for the equivalence test), whether or not install() ran."""
    return _original or api_jws.PyJWS._decode_base64url_segment


def install() -> bool:
    """Use decode_segment in PyJWT; True if installed (or already), False if PyJWT's shape is unknown."""
    global _original
    current = inspect.getattr_static(api_jws.PyJWS, "_decode_base64url_segment", None)
    if not isinstance(current, staticmethod):
        return False
    if current.__func__ is decode_segment:
        return True
    if list(inspect.signature(current.__func__).parameters) != ["segment", "name"] \
            or getattr(api_jws, "_BASE64URL_ALPHABET", None) != ALPHABET:
        return False
    _original = current.__func__
    api_jws.PyJWS._decode_base64url_segment = staticmethod(decode_segment)
    return True
