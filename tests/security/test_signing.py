"""HMAC-SHA256 webhook signatures: the contract's format, tolerance and rotation."""
import hashlib
import hmac
import time

import pytest

from core.security import SignatureError, compute_signature, signature_headers, verify_signature

pytestmark = pytest.mark.security
SECRET = "dev-webhook-secret-change-in-production-32-chars-minimum"
BODY = b'{"event_id":"test123","status":"success"}'


def test_signature_matches_the_openssl_recipe_of_the_readme():
    ts = 1700000000
    expected = hmac.new(SECRET.encode(), f"{ts}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, ts, BODY) == expected
    headers = signature_headers(SECRET, BODY, ts)
    assert headers == {"X-Webhook-Timestamp": str(ts), "X-Webhook-Signature": f"sha256={expected}"}


def test_valid_signature_passes():
    h = signature_headers(SECRET, BODY)
    verify_signature([SECRET], BODY, h["X-Webhook-Signature"], h["X-Webhook-Timestamp"], 300)


def test_any_of_several_secrets_verifies_during_rotation():
    h = signature_headers("old-secret", BODY)
    verify_signature(["new-secret", "old-secret"], BODY, h["X-Webhook-Signature"], h["X-Webhook-Timestamp"], 300)


@pytest.mark.parametrize("mutate,reason", [
    (lambda sig, ts, body: (sig, ts, body + b" "), "mismatch"),
    (lambda sig, ts, body: (sig.replace("sha256=", "sha1="), ts, body), "malformed"),
    (lambda sig, ts, body: (sig[:-1] + ("0" if sig[-1] != "0" else "1"), ts, body), "mismatch"),
    (lambda sig, ts, body: (None, ts, body), "missing"),
    (lambda sig, ts, body: (sig, None, body), "missing"),
    (lambda sig, ts, body: (sig, "yesterday", body), "malformed"),
    (lambda sig, ts, body: (sig, str(int(ts) + 1), body), "mismatch"),
])
def test_tampering_is_refused(mutate, reason):
    h = signature_headers(SECRET, BODY)
    sig, ts, body = mutate(h["X-Webhook-Signature"], h["X-Webhook-Timestamp"], BODY)
    with pytest.raises(SignatureError, match=reason):
        verify_signature([SECRET], body, sig, ts, 300)


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_stale_or_future_timestamps_are_refused(skew):
    ts = int(time.time()) + skew
    h = signature_headers(SECRET, BODY, ts)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature([SECRET], BODY, h["X-Webhook-Signature"], h["X-Webhook-Timestamp"], 300)


def test_edge_of_tolerance_is_accepted():
    now = 1_800_000_000
    h = signature_headers(SECRET, BODY, now - 300)
    verify_signature([SECRET], BODY, h["X-Webhook-Signature"], h["X-Webhook-Timestamp"], 300, now=now)
