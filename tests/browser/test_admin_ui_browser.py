"""A new operator in headless Chromium drives /admin against the real processes (issue #15).

Log in from the keyboard, create plan Team (4900 cents, api_calls 50000), watch a customer subscribe
through the API, find them, refund half from the invoice page and see the credit note, then refund the
rest and see the subscription end and the MRR fall. The second test walks the issue's "Done when"
(a new price 5900 that migrates nobody, the summary's MRR, new subscribers and refund) and the
subscription and invoice actions. Screenshots land in tests/artifacts/admin-*.png.
"""
from __future__ import annotations

import re
import time
import uuid

import pytest
import requests

from subscription_app.seed import ENTERPRISE_MONTHLY_ID
from tests.support.browser import TIMEOUT_MS, log_in_by_keyboard, shot, skip_module_without_chromium, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
skip_module_without_chromium()
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


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


def find_customer(page, base: str, email: str):
    """Search customers by the start of the email and open the one found."""
    page.goto(base + "/admin/customers")
    page.get_by_label("Email starts with").fill(email[:9])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=email).click()


def team_row(page, base: str) -> str:
    page.goto(base + "/admin/")
    row = page.locator("tr", has=page.get_by_role("rowheader", name="Team"))
    return row.inner_text() if row.count() else ""


def refund(page, invoice_url: str, amount: str, reason: str):
    page.goto(invoice_url)
    if amount:
        page.get_by_label("Amount (minor units; empty: the rest)").fill(amount)
    page.get_by_label("Reason", exact=True).fill(reason)
    page.get_by_role("button", name="Refund").click()
    page.get_by_role("status").filter(has_text="requested").wait_for(timeout=TIMEOUT_MS)


def credit_notes(page, invoice_url: str) -> str:
    page.goto(invoice_url)
    return page.locator("#credit-notes").inner_text()


def a_team_subscriber_found(live, browser, prefix: str):
    """Sign in, create plan Team, subscribe a new customer through the API, find them: (context, page, plan, email,
    subscription)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    log_in_by_keyboard(page, live.subscription_url)
    plan_id = create_team_plan(page, live.subscription_url)
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    sub = subscribe_through_api(live, email, plan_id)
    find_customer(page, live.subscription_url, email)
    return context, page, plan_id, email, sub


def test_an_operator_creates_a_plan_and_refunds_a_subscriber(live_stack, live_worker, browser, seeded):
    base = live_stack.subscription_url
    context, page, plan_id, email, sub = a_team_subscriber_found(live_stack, browser, "team")
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


def admin_token(base: str) -> dict:
    token = requests.post(f"{base}/v1/auth/login", json={"email": "admin@test.com", "password": "password123"},
                          timeout=10).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def subscription_page(page, base: str, email: str, plan_id: str):
    """Find the customer's subscription on /admin/subscriptions by plan and email, and open it."""
    page.goto(base + "/admin/subscriptions")
    page.get_by_label("Plan").select_option(plan_id)
    page.get_by_label("Customer email starts with").fill(email)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=email).wait_for(timeout=TIMEOUT_MS)
    page.locator("tr", has=page.get_by_role("link", name=email)).get_by_role("link").first.click()
    page.get_by_role("heading", name=re.compile("^Subscription")).wait_for(timeout=TIMEOUT_MS)


def press(page, button: str):
    """Reach a button from the keyboard and press it: focus, then Enter."""
    page.get_by_role("button", name=button).focus()
    page.keyboard.press("Enter")


def test_done_when_then_the_subscription_and_invoice_actions(live_stack, live_worker, browser, seeded):
    base = live_stack.subscription_url
    context, page, plan_id, first, old = a_team_subscriber_found(live_stack, browser, "first")
    usage = page.locator("table", has=page.get_by_role("rowheader", name="api_calls"))
    assert re.search(r"api_calls\s+0\s+50000", usage.inner_text())  # usage this period, the plan's limit
    shot(page, "admin-customer-usage")

    invoice_url = f"{base}/admin/invoices/{old['latest_invoice']['id']}"
    refund(page, invoice_url, "2450", "half back")
    wait_for(lambda: "24.50 USD half back" in credit_notes(page, invoice_url), "the refund's credit note")

    page.goto(f"{base}/admin/plans/{plan_id}")
    page.get_by_label("New price (minor units)").fill("5900")
    page.get_by_role("button", name="Add price version").click()
    page.get_by_text("59.00 USD every 1 month").wait_for(timeout=TIMEOUT_MS)
    second = f"second-{uuid.uuid4().hex[:8]}@example.com"
    new = subscribe_through_api(live_stack, second, plan_id)
    assert new["latest_invoice"]["amount_due_cents"] == 5900  # a new subscriber pays the new price
    assert re.search(r"Team\s+2\s+108\.00 USD", team_row(page, base))  # 4900 kept (migrated nobody) + 5900
    month = page.locator("#this-month").inner_text()
    assert re.search(r"New subscribers\s+2", month) and re.search(r"Refunded\s+24\.50 USD", month), month
    shot(page, "admin-dashboard-summary")
    summary = requests.get(f"{base}/v1/admin/reports/summary", headers=admin_token(base), timeout=10).json()
    assert summary["mrr"]["USD"] >= 10800 and summary["new_this_month"] >= 2, summary
    assert {(r["currency"], r["cents"]) for r in summary["refunded"] if r["month"] == summary["month"]} == {
        ("USD", 2450)}, summary

    subscription_page(page, base, first, plan_id)
    assert "pays 49.00 USD per" in page.locator("#plan-name").inner_text()  # kept its version
    subscription_page(page, base, second, plan_id)
    press(page, "Cancel at period end")
    page.get_by_text("cancels at the period end").wait_for(timeout=TIMEOUT_MS)
    shot(page, "admin-subscription-canceling")
    press(page, "Un-cancel / resume")
    page.get_by_role("status").filter(has_text="Resumed").wait_for(timeout=TIMEOUT_MS)
    page.get_by_label("New plan").select_option(str(ENTERPRISE_MONTHLY_ID))
    page.get_by_label("Proration").select_option("full_price_now")
    shot(page, "admin-subscription-actions")
    page.get_by_role("button", name="Change plan").click()
    page.get_by_role("status").filter(has_text="Plan change billed").wait_for(timeout=TIMEOUT_MS)

    def on_enterprise():
        page.reload()
        return "Enterprise" in page.locator("#plan-name").inner_text()
    wait_for(on_enterprise, "the full-price change to be paid and applied")
    assert "99.00 USD" in page.content()
    shot(page, "admin-subscription-changed")

    invoice_url = f"{base}/admin/invoices/{old['latest_invoice']['id']}"
    page.goto(invoice_url)
    page.get_by_label("Credit amount (minor units; empty: all that is left)").fill("1000")
    page.get_by_label("Credit reason").fill("goodwill")
    page.get_by_role("button", name="Issue credit note").click()
    page.get_by_role("status").filter(has_text="credit balance").wait_for(timeout=TIMEOUT_MS)
    assert "10.00 USD goodwill" in credit_notes(page, invoice_url)

    token = live_stack.register_and_login(f"nocard-{uuid.uuid4().hex[:8]}@example.com")
    unpaid = requests.post(f"{base}/v1/subscriptions", json={"plan_id": plan_id},
                           headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["latest_invoice"]
    page.goto(f"{base}/admin/invoices/{unpaid['id']}")
    shot(page, "admin-invoice-actions")
    press(page, "Void invoice")
    page.get_by_role("heading", name=re.compile(r"\(void\)")).wait_for(timeout=TIMEOUT_MS)
    context.close()
