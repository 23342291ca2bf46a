"""The payment service's token version source: the subscription service, which owns users.

Redis caches the version for both services; on a miss (eviction, TTL, a Redis loss) the
payment service asks the subscription service's internal API instead of reading its table.
When that call fails the check fails closed (503), never open.
"""
from __future__ import annotations

import requests
from flask import current_app

from core import tokens
from core.http import service_request

# On the request path: a hung subscription service is a 503 soon; the connect timeout outlasts one SYN retry.
TIMEOUT = (3.05, 5)


def token_version_of(user_id: str) -> int | None:
    """The user's version, tokens.NO_USER if deactivated or unknown, None if it cannot be told now."""
    if not str(user_id).isdigit():
        return tokens.NO_USER
    base = current_app.config["SETTINGS"].subscription_service_url
    try:
        r = service_request("GET", f"{base}/v1/subscriptions/internal/user/{user_id}/token-version",
                            timeout=TIMEOUT)
    except requests.RequestException:
        return None
    if r.status_code == 404:
        return tokens.NO_USER
    if r.status_code != 200:
        return None
    body = r.json()
    return tokens.effective_version(int(body["token_version"]), bool(body["is_active"]))
