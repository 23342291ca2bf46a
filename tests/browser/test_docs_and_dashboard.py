"""Headless Chromium against the real processes: Swagger UI on both services, rq-dashboard.

Uses tests/support/browser.py (Debian's chromium driven by playwright); screenshots land in tests/artifacts/.
"""
from __future__ import annotations

import uuid

import pytest
import requests

from tests.support.browser import TIMEOUT_MS, shot, skip_module_without_chromium

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
skip_module_without_chromium()


def authenticated_get(base_url: str) -> str:
    """The path to run from the page: GET /v1/auth/me where it exists, else a bearer-protected GET
    without parameters, else the health check (the payment service before its routes land)."""
    paths = requests.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]
    if "/v1/auth/me" in paths:
        return "/v1/auth/me"
    for path, ops in sorted(paths.items()):
        op = ops.get("get")
        if op and "{" not in path and any("bearerAuth" in s for s in op.get("security", [])):
            return path
    return "/v1/health"


def authorise_and_execute(page, base_url: str, token: str, path: str, name: str):
    page.goto(f"{base_url}/docs", wait_until="networkidle")
    page.locator(".swagger-ui .info .title").wait_for(timeout=TIMEOUT_MS)

    page.locator("button.authorize").first.click()
    dialog = page.locator(".modal-ux")
    bearer = dialog.locator(".auth-container").filter(has_text="bearerAuth")
    bearer.locator("input").fill(token)
    bearer.locator("button.authorize").click()
    bearer.get_by_text("Authorized").wait_for(timeout=TIMEOUT_MS)
    dialog.locator("button.btn-done").first.click()

    op = page.locator(f'.opblock-get:has(.opblock-summary-path[data-path="{path}"])').first
    op.locator(".opblock-summary").first.click()
    op.locator("button.try-out__btn").click()
    op.locator("button.execute").click()
    status = op.locator(".live-responses-table .response .response-col_status").first
    status.wait_for(timeout=TIMEOUT_MS)
    op.scroll_into_view_if_needed()
    shot(page, name)
    return status.inner_text().strip(), op.locator(".live-responses-table").inner_text()


def test_swagger_ui_authorises_and_runs_auth_me_on_the_subscription_service(live_stack, browser, app):
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    token = live_stack.register_and_login(email)
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    status, body = authorise_and_execute(page, live_stack.subscription_url, token, "/v1/auth/me",
                                         "subscription-docs-auth-me")
    assert status == "200", body
    assert email in body  # the page sent our token: the API answered as this user
    page.close()


def test_swagger_ui_authorises_and_runs_a_get_on_the_payment_service(live_stack, browser, app):
    token = live_stack.register_and_login(f"browser-{uuid.uuid4().hex[:8]}@example.com")
    path = authenticated_get(live_stack.payment_url)
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    status, body = authorise_and_execute(page, live_stack.payment_url, token, path, "payment-docs-authorised")
    assert status == "200", f"{path}: {body}"
    page.close()


def test_rq_dashboard_needs_credentials_and_shows_the_queues(live_stack, browser, app):
    anonymous = browser.new_context()  # Chromium aborts a page load on a bare 401: ask at the HTTP level
    assert anonymous.request.get(live_stack.dashboard_url + "/").status == 401
    anonymous.close()
    wrong = browser.new_context(http_credentials={"username": live_stack.dashboard_user, "password": "wrong"})
    assert wrong.request.get(live_stack.dashboard_url + "/").status == 401
    wrong.close()

    context = browser.new_context(viewport={"width": 1280, "height": 900}, http_credentials={
        "username": live_stack.dashboard_user, "password": live_stack.dashboard_password})
    page = context.new_page()
    response = page.goto(live_stack.dashboard_url + "/", wait_until="networkidle")
    assert response.status == 200
    table = page.locator("#queues")
    for name in ("payments", "webhooks", "default"):
        table.get_by_text(name, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    shot(page, "rq-dashboard-queues")
    context.close()
