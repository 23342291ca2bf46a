"""A customer's transactions, asked of the payment service over its service-token API (never its tables)."""
from __future__ import annotations

import logging

import requests
from flask import current_app

from core.http import service_request

log = logging.getLogger(__name__)
PATH = "/v1/payments/internal/users/{user_id}/transactions?per_page={per_page}"


def of_customer(user_id: int, per_page: int = 50) -> dict:
    """{"items": [...], "error": None}, or no items and the reason when the payment service cannot answer."""
    url = current_app.config["SETTINGS"].payment_service_url + PATH.format(user_id=user_id, per_page=per_page)
    try:
        response = service_request("GET", url)
    except requests.RequestException as exc:
        log.warning("payment service unreachable listing transactions: %s", exc.__class__.__name__)
        return {"items": [], "error": "Payment service unavailable"}
    if response.status_code != 200:
        log.warning("payment service answered %s listing transactions", response.status_code)
        return {"items": [], "error": f"Payment service answered {response.status_code}"}
    return {"items": response.json().get("items", []), "error": None}
