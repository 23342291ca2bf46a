"""The product uses its libraries through their documented API only: no private attribute, no hook surgery.

Each patch of a library's internals made a benchmark a few percent better and broke silently on an
upgrade (issue #14); these tests keep them out.
"""
import inspect

import pytest
from jwt import api_jws

pytestmark = pytest.mark.security


def test_pyjwt_checks_segments_with_its_own_code(app):
    segment_check = inspect.getattr_static(api_jws.PyJWS, "_decode_base64url_segment")
    assert segment_check.__func__.__module__ == "jwt.api_jws"
