"""Send signed test webhooks to the running services (the seed README's helper).

    python scripts/test_webhook.py subscription --event-id test123
    python scripts/test_webhook.py gateway --transaction-id test-txn
    python scripts/test_webhook.py invalid

`subscription` POSTs the seed's body {"event_id": ..., "status": "success"} to
SUBSCRIPTION_SERVICE_URL/v1/webhooks/payment (acknowledged unprocessed: it has no type);
`gateway` POSTs a gateway-shaped charge.succeeded to PAYMENT_SERVICE_URL/v1/webhooks/gateway;
`invalid` sends a badly signed body and expects 401. Signed with the first
WEBHOOK_SIGNING_SECRET. Exits non-zero on any unexpected answer.
"""
from __future__ import annotations

import argparse
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import requests  # noqa: E402

from core.http import encode  # noqa: E402
from core.security import signature_headers  # noqa: E402
from core.settings import load_settings  # noqa: E402

TIMEOUT = 10


def _post(url: str, body: dict, secret: str, tamper: bool = False) -> requests.Response:
    raw = encode(body)
    headers = {"Content-Type": "application/json", **signature_headers(secret, raw)}
    if tamper:
        headers["X-Webhook-Signature"] = "sha256=" + "0" * 64
    return requests.post(url, data=raw, headers=headers, timeout=TIMEOUT)


def _report(response: requests.Response, expected) -> int:
    ok = response.status_code in expected
    print(f"{'OK' if ok else 'UNEXPECTED'}: HTTP {response.status_code} {response.text.strip()[:500]}")
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_sub = sub.add_parser("subscription", help="signed event to the subscription service")
    p_sub.add_argument("--event-id", default=None)
    p_gw = sub.add_parser("gateway", help="signed gateway callback to the payment service")
    p_gw.add_argument("--transaction-id", required=True)
    p_gw.add_argument("--status", choices=["succeeded", "failed"], default="succeeded")
    p_bad = sub.add_parser("invalid", help="a badly signed body: expects 401")
    p_bad.add_argument("--target", choices=["subscription", "gateway"], default="subscription")
    args = parser.parse_args(argv)

    settings = load_settings()
    secret = settings.webhook_signing_secret
    payment_url = settings.payment_service_url + "/v1/webhooks/gateway"
    subscription_url = settings.subscription_service_url + "/v1/webhooks/payment"
    try:
        if args.command == "subscription":
            body = {"event_id": args.event_id or f"test-{uuid.uuid4()}", "status": "success"}
            print(f"POST {subscription_url} {body}")
            return _report(_post(subscription_url, body, secret), range(200, 300))
        if args.command == "gateway":
            body = {"event_id": f"gw-{uuid.uuid4()}", "type": f"charge.{args.status}",
                    "data": {"transaction_id": args.transaction_id, "status": args.status}}
            print(f"POST {payment_url} {body}")
            return _report(_post(payment_url, body, secret), range(200, 300))
        url = subscription_url if args.target == "subscription" else payment_url
        body = {"event_id": f"invalid-{uuid.uuid4()}", "status": "success"}
        print(f"POST {url} with a bad signature (expect 401)")
        code = _report(_post(url, body, secret, tamper=True), (401,))
        if code == 0:
            print("signature validation works: the bad signature was refused")
        return code
    except requests.RequestException as exc:
        print(f"UNEXPECTED: cannot reach the service: {exc.__class__.__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
