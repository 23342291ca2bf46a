"""A new operator in headless Chromium registers an integrator endpoint from /admin/webhooks (issue #18),
copies its secret (shown once), sees a customer's customer.created arrive verified in the delivery log,
and rotates the secret. Screenshots land in tests/artifacts/admin-webhook-*.png."""
from __future__ import annotations

import uuid

import pytest

from tests.support.browser import TIMEOUT_MS, log_in_by_keyboard, shot, skip_module_without_chromium, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
skip_module_without_chromium()


def test_an_operator_registers_an_endpoint_and_sees_a_verified_delivery(live_stack, live_worker, browser, seeded,
                                                                        receiver):
    base = live_stack.subscription_url
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    log_in_by_keyboard(page, base)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL (https; http only outside production)").fill(receiver.url)
    page.get_by_label("customer.created").check()
    page.get_by_label("Description").fill("crm sync")
    shot(page, "admin-webhook-form")
    page.get_by_role("button", name="Register endpoint").click()
    secret = page.locator("#secret").inner_text(timeout=TIMEOUT_MS)
    assert secret.startswith("whsec_")
    receiver.secrets.append(secret)
    page.reload()  # a GET after the redirect: no second endpoint, and the secret is not shown again
    assert secret not in page.content() and "shown already" in page.content()
    assert page.get_by_role("heading", name="Webhook endpoint").is_visible()

    live_stack.register_and_login(f"hooked-{uuid.uuid4().hex[:8]}@example.com")
    [got] = wait_for(lambda: receiver.verified("customer.created"), "the verified customer.created")
    page.goto(base + "/admin/webhooks")
    page.get_by_role("link", name=receiver.url).click()  # exactly one endpoint was registered

    def logged() -> bool:
        page.reload()
        return "succeeded" in page.locator(f"tr[id='{got['id']}']").inner_text()
    wait_for(logged, "the log to show the delivery")
    shot(page, "admin-webhook-log")

    page.get_by_label("Overlap: seconds the old secret keeps signing").fill("60")
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.locator("#secret").inner_text(timeout=TIMEOUT_MS)
    assert rotated.startswith("whsec_") and rotated != secret
    shot(page, "admin-webhook-rotated")
    context.close()
