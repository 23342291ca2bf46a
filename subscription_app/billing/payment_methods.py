"""The synchronous call to the payment service that turns a card into a saved payment method.

Card numbers pass through this process on their way to the payment service and are
never stored or logged here; only the returned method id is kept.
"""
from __future__ import annotations

import logging
import uuid

import requests
from flask import current_app

from core.errors import ApiError
from core.http import service_request

log = logging.getLogger(__name__)
PATH = "/v1/payments/internal/payment-methods"


def tokenise(user_id: int, card: dict) -> uuid.UUID:
    """Save the card with the payment service; 422 for a bad card, 503 if it cannot be reached."""
    url = current_app.config["SETTINGS"].payment_service_url + PATH
    try:
        response = service_request("POST", url, json_body={"user_id": user_id, "card": card})
    except requests.RequestException as exc:
        log.error("payment service unreachable while saving a card: %s", exc.__class__.__name__)
        raise ApiError(503, "Payment service unavailable, try again shortly", headers={"Retry-After": "5"}) from None
    body = _json(response)
    if response.status_code == 201 and body.get("id"):
        try:
            return uuid.UUID(str(body["id"]))
        except ValueError:
            pass
    if response.status_code == 422:
        # The payment service validated the card (Luhn, expiry, CVC): its field errors go back as they are.
        raise ApiError(422, body.get("message") or "Card rejected", errors=body.get("errors"))
    if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 404):
        raise ApiError(422, body.get("message") or "Card rejected", errors=body.get("errors"))
    log.error("payment service answered %s while saving a card", response.status_code)
    raise ApiError(503, "Payment service unavailable, try again shortly", headers={"Retry-After": "5"})


def _json(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
