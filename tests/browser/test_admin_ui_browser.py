"""A new operator in headless Chromium drives /admin against the real processes (issue #15).

Log in from the keyboard, create plan Team (4900 cents, api_calls 50000), watch a customer subscribe
through the API, find them, refund half from the invoice page and see the credit note, then refund the
rest and see the subscription end and the MRR fall. Screenshots land in tests/artifacts/admin-*.png.
"""
from __future__ import annotations

import re
import time
import uuid

import pytest
import requests

from tests.support.browser import TIMEOUT_MS, shot, skip_module_without_chromium

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
skip_module_without_chromium()
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


def wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def log_in_by_keyboard(page, base: str):
    page.goto(base + "/admin/")
    assert "/admin/login" in page.url  # pages need a session
    page.get_by_label("Email").focus()
    page.keyboard.type("admin@test.com")
    page.keyboard.press("Tab")
    page.keyboard.type("password123")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Dashboard").wait_for(timeout=TIMEOUT_MS)
    cookie = next(c for c in page.context.cookies() if c["name"] == "billing_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def create_team_plan(page, base: str) -> str:
    page.goto(base + "/admin/plans")
    page.get_by_label("Name").fill("Team")
    page.get_by_label("Price (minor units, e.g. cents)").fill("4900")
    page.get_by_label("Feature", exact=True).select_option("api_calls")
    page.get_by_label("Feature limit per period (empty: unlimited)").fill("50000")
    shot(page, "admin-plan-form")
    page.get_by_role("button", name="Create plan").click()
    page.get_by_role("heading", name=re.compile("^Team")).wait_for(timeout=TIMEOUT_MS)
    assert "49.00 USD" in page.content() and "api_calls: 50000" in page.content()
    shot(page, "admin-plan-created")
    return page.url.rsplit("/", 1)[1]


def subscribe_through_api(live, email: str, plan_id: str) -> dict:
    token = live.register_and_login(email)
    headers = {"Authorization": f"Bearer {token}"}
    sub = requests.post(f"{live.subscription_url}/v1/subscriptions", json={"plan_id": plan_id, "card": CARD},
                        headers=headers, timeout=10).json()
    assert sub.get("status") == "incomplete", sub

    def active():
        current = requests.get(f"{live.subscription_url}/v1/subscriptions/{sub['id']}", headers=headers,
                               timeout=10).json()
        return current if current["status"] == "active" else None
    return {**wait_for(active, "the subscription to be paid"), "headers": headers}


def team_row(page, base: str) -> str:
    page.goto(base + "/admin/")
    row = page.locator("tr", has=page.get_by_role("rowheader", name="Team"))
    return row.inner_text() if row.count() else ""


def refund(page, invoice_url: str, amount: str, reason: str):
    page.goto(invoice_url)
    if amount:
        page.get_by_label("Amount (minor units; empty: the rest)").fill(amount)
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Refund").click()
    page.get_by_role("status").filter(has_text="requested").wait_for(timeout=TIMEOUT_MS)


def credit_notes(page, invoice_url: str) -> str:
    page.goto(invoice_url)
    return page.locator("#credit-notes").inner_text()


def test_an_operator_creates_a_plan_and_refunds_a_subscriber(live_stack, live_worker, browser, seeded):
    base = live_stack.subscription_url
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    log_in_by_keyboard(page, base)
    plan_id = create_team_plan(page, base)

    email = f"team-{uuid.uuid4().hex[:8]}@example.com"
    sub = subscribe_through_api(live_stack, email, plan_id)
    page.goto(base + "/admin/customers")
    page.get_by_label("Email starts with").fill(email[:9])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=email).click()
    page.get_by_text(sub["id"]).wait_for(timeout=TIMEOUT_MS)
    shot(page, "admin-customer")
    assert re.search(r"Team\s+1\s+49\.00 USD", team_row(page, base))
    shot(page, "admin-dashboard-before")

    invoice_url = f"{base}/admin/invoices/{sub['latest_invoice']['id']}"
    page.goto(base + "/admin/invoices?status=paid")
    page.get_by_role("link", name=f"#{sub['latest_invoice']['number']}").click()
    refund(page, invoice_url, "2450", "half back")
    note = wait_for(lambda: "CN-" in credit_notes(page, invoice_url) and credit_notes(page, invoice_url),
                    "the credit note")
    assert "24.50 USD half back" in note
    shot(page, "admin-credit-note")

    refund(page, invoice_url, "", "the rest")
    wait_for(lambda: credit_notes(page, invoice_url).count("CN-") == 2, "the second credit note")
    status = requests.get(f"{base}/v1/subscriptions/{sub['id']}", headers=sub["headers"], timeout=10).json()
    assert status["status"] == "canceled"  # a full refund ends the subscription (docs/refunds.md)
    assert team_row(page, base) == ""  # no active subscriber left: Team's MRR is gone
    shot(page, "admin-dashboard-after")
    context.close()
