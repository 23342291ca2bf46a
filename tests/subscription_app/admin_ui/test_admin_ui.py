"""The operator's web UI under /admin (issue #15): session login, CSRF, plans, audit, figures, customers, refunds."""
import re
import uuid

import flask
import pytest
import requests
from flask.sessions import NullSession, SecureCookieSession
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.backoffice import transactions
from subscription_app.catalog.models import AuditEvent, PlanPrice
from subscription_app.models import CreditNote, Plan, Subscription, User
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.admin_ui import PASSWORD, csrf_of, log_in, post_form
from tests.support.discounts import make_code
from tests.support.world import CARD

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
def test_pages_need_a_login(ui, admin):
    for path in ("/admin/", "/admin/plans", "/admin/audit", "/admin/customers", "/admin/invoices"):
        response = ui.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login"), path


def test_login_sets_a_strict_session_cookie_and_logout_ends_it(ui, admin):
    response = log_in(ui)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # only in production, where it is served over HTTPS
    assert ui.get("/admin/").status_code == 200
    out = post_form(ui, "/admin/logout", {}, page="/admin/")
    assert out.status_code == 302
    assert ui.get("/admin/").status_code == 302


def test_wrong_password_and_customer_are_refused(ui, admin, make_user):
    wrong = log_in(ui, password="not-it")
    assert wrong.status_code == 401 and "Invalid email or password" in wrong.get_data(as_text=True)
    make_user("customer@example.com")
    customer = log_in(ui, email="customer@example.com")
    assert customer.status_code == 403 and "Admin role required" in customer.get_data(as_text=True)
    assert ui.get("/admin/").status_code == 302  # no session was made


def test_login_guesses_share_the_api_login_budget(ui, admin, client):
    for _ in range(10):
        assert client.post("/v1/auth/login", json={"email": "ops@example.com", "password": "guess"}).status_code == 401
    refused = log_in(ui, password="guess")
    assert refused.status_code == 429 and refused.json["code"] == 429


def test_a_demoted_admin_session_stops_working(ui, admin):
    log_in(ui)
    admin.role = "user"
    db.session.commit()
    assert ui.get("/admin/").status_code == 403


def test_posts_without_csrf_token_are_refused_and_change_nothing(ui, admin):
    log_in(ui)
    before = db.session.scalar(select(func.count()).select_from(Plan))
    response = ui.post("/admin/plans", data={"name": "Team", "price_cents": "4900", "currency": "USD"})
    assert response.status_code == 400
    assert response.json["errors"] == {"form": {"csrf_token": ["The CSRF token is missing."]}}
    assert db.session.scalar(select(func.count()).select_from(Plan)) == before
    assert ui.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD}).status_code == 400


def test_json_api_needs_no_csrf_token(ui, admin, make_user):
    _, headers = make_user("ops2@example.com", role="admin")
    response = ui.post("/v1/admin/plans", json={"name": "Api", "price_cents": 100}, headers=headers)
    assert response.status_code == 201, response.json


def create_team(ui):
    return post_form(ui, "/admin/plans", {"name": "Team", "price_cents": "4900", "currency": "USD",
                                          "billing_interval": "month", "interval_count": "1",
                                          "feature_key": "api_calls", "feature_limit": "50000"})


def test_plan_creation_calls_the_catalog_and_audits_the_admin(ui, admin):
    log_in(ui)
    response = create_team(ui)
    assert response.status_code == 302, response.get_data(as_text=True)
    plan = db.session.scalar(select(Plan).where(Plan.name == "Team"))
    assert plan.price_cents == 4900 and plan.feature_limits == {"api_calls": 50000}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "plan.created",
                                                       AuditEvent.object_id == str(plan.id)))
    assert (event.actor_user_id, event.source) == (admin.id, "admin-ui")
    page = ui.get(response.headers["Location"]).get_data(as_text=True)
    assert "49.00 USD" in page and "api_calls" in page
    assert "plan.created" in ui.get("/admin/audit").get_data(as_text=True)


def test_bad_plan_input_names_the_field_and_writes_nothing(ui, admin):
    log_in(ui)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = post_form(ui, "/admin/plans", {"name": "Pro", "price_cents": "100", "currency": "USD",
                                              "billing_interval": "month", "interval_count": "1"})
    assert response.status_code == 422
    assert "A plan named &#39;Pro&#39; exists already." in response.get_data(as_text=True)
    negative = post_form(ui, "/admin/plans", {"name": "Neg", "price_cents": "-5", "currency": "USD",
                                              "billing_interval": "month", "interval_count": "1"})
    assert negative.status_code == 422 and 'id="price_cents-error"' in negative.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_new_price_version_and_archive(ui, admin):
    log_in(ui)
    location = create_team(ui).headers["Location"]
    priced = post_form(ui, location + "/prices", {"price_cents": "5900"}, page=location)
    assert priced.status_code == 302
    plan = db.session.scalar(select(Plan).where(Plan.name == "Team"))
    versions = db.session.scalars(select(PlanPrice.amount_cents).where(PlanPrice.plan_id == plan.id)
                                  .order_by(PlanPrice.version)).all()
    assert versions == [4900, 5900]
    assert post_form(ui, location + "/archive", {"archived": "y"}, page=location).status_code == 302
    db.session.refresh(plan)
    assert plan.is_active is False
    post_form(ui, location + "/archive", {}, page=location)
    db.session.refresh(plan)
    assert plan.is_active is True


def test_dashboard_customers_and_refund_with_credit_note(ui, world, admin):
    log_in(ui)
    create_team(ui)
    team = db.session.scalar(select(Plan).where(Plan.name == "Team"))
    headers = world.user("buyer@example.com")
    sub = world.subscribe(headers, plan=str(team.id))
    world.run()
    user = db.session.scalar(select(User).where(User.email == "buyer@example.com"))
    dashboard = ui.get("/admin/").get_data(as_text=True)
    assert re.search(r"Team</th>\s*<td>1</td>\s*<td>49.00 USD</td>", dashboard), dashboard
    assert "<svg" in dashboard

    found = ui.get("/admin/customers?q=buy").get_data(as_text=True)
    assert "buyer@example.com" in found
    assert "buyer@example.com" not in ui.get("/admin/customers?q=ops").get_data(as_text=True)
    detail = ui.get(f"/admin/customers/{user.id}").get_data(as_text=True)
    assert sub["id"] in detail and "49.00 USD" in detail

    invoice_id = sub["latest_invoice"]["id"]
    paid = ui.get("/admin/invoices?status=paid")
    assert paid.status_code == 200 and invoice_id in paid.get_data(as_text=True)
    assert invoice_id not in ui.get("/admin/invoices?status=open").get_data(as_text=True)
    page = f"/admin/invoices/{invoice_id}"
    refunded = post_form(ui, page + "/refund", {"amount_cents": "2450", "reason": "half back"}, page=page)
    assert refunded.status_code == 302, refunded.get_data(as_text=True)
    world.run()
    note = db.session.scalar(select(CreditNote).where(CreditNote.invoice_id == uuid.UUID(invoice_id)))
    assert note is not None and note.amount_cents == 2450
    assert "CN-" in ui.get(page).get_data(as_text=True)
    month = ui.get("/admin/").get_data(as_text=True)
    # At the dec31-last-second instant the clock may tick into January during the test: each figure
    # counts in the month its event fell in.
    shown = re.search(r"This month \((\d{4}-\d{2})\)", month).group(1)
    new = 1 if sub["current_period_start"][:7] == shown else 0
    refunded = "24.50 USD" if note.created_at.strftime("%Y-%m") == shown else "0"
    assert re.search(rf"New subscribers</th><td>{new}</td>", month), month
    assert re.search(rf"Refunded</th><td>{re.escape(refunded)}", month), month
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invoice.refund_requested"))
    assert event.actor_user_id == admin.id


def test_refund_over_the_paid_amount_shows_the_payment_service_error(ui, world, admin):
    log_in(ui)
    sub = world.subscribe(world.user("buyer@example.com"))
    world.run()
    page = f"/admin/invoices/{sub['latest_invoice']['id']}"
    response = post_form(ui, page + "/refund", {"amount_cents": "999999"}, page=page)
    assert response.status_code == 422
    assert "amount_cents" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CreditNote)) == 0


def test_the_dashboards_mrr_is_the_revenue_summarys(ui, world, admin, client):
    """Past-due subscribers still owe their plan: the dashboard counts them as the summary does."""
    log_in(ui)
    subs = [world.subscribe(world.user(f"mrr{i}@example.com")) for i in range(2)]
    world.run()
    late = db.session.get(Subscription, uuid.UUID(subs[1]["id"]))
    late.status = "past_due"
    db.session.commit()
    admin_headers = client.post("/v1/auth/login", json={"email": "ops@example.com", "password": PASSWORD}).json
    summary = client.get("/v1/admin/reports/summary",
                         headers={"Authorization": f"Bearer {admin_headers['access_token']}"}).json
    assert summary["mrr"] == {"USD": 5800}
    dashboard = ui.get("/admin/").get_data(as_text=True)
    assert re.search(r'<p class="figure"><span>58.00 USD</span>', dashboard), dashboard
    assert re.search(r"Pro</th>\s*<td>2</td>\s*<td>58.00 USD</td>", dashboard), dashboard


def test_the_customer_page_shows_credit_discounts_payments_and_operator_actions(ui, world, admin, client):
    """What an operator needs before answering a customer: the whole picture GET /v1/admin/customers/{id} gives."""
    log_in(ui)
    token = client.post("/v1/auth/login", json={"email": "ops@example.com", "password": PASSWORD}).json
    admin_h = {"Authorization": f"Bearer {token['access_token']}"}
    make_code(client, admin_h, "HALF", coupon={"name": "Half off", "percent_off": 50, "duration": "repeating",
                                               "duration_in_periods": 3})
    buyer = world.user("picture@example.com")
    r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID), "card": CARD,
                                               "promotion_code": "HALF"}, headers=buyer)
    assert r.status_code == 201, r.json
    world.run()
    invoice_id = world.sub(buyer, r.json["id"])["latest_invoice"]["id"]
    note = client.post(f"/v1/admin/invoices/{invoice_id}/credit-notes",
                       json={"amount_cents": 500, "reason": "outage", "refund": False}, headers=admin_h)
    assert note.status_code == 201, note.json
    user = db.session.scalar(select(User).where(User.email == "picture@example.com"))

    api = client.get(f"/v1/admin/customers/{user.id}", headers=admin_h).json
    assert api["balance"] == [{"currency": "USD", "amount_cents": 500}]
    assert [(d["coupon"]["name"], d["periods_left"]) for d in api["discounts"]] == [("Half off", 2)]
    page = ui.get(f"/admin/customers/{user.id}").get_data(as_text=True)
    assert "<h2>" not in re.search(r"<title>(.*?)</title>", page, re.S).group(1)  # every section in the body
    main = page[page.index("<main"):page.index("</main>")]
    assert [h for h in re.findall(r"<h2>(.*?)</h2>", main)] == [
        "Credit balance", "Subscriptions", "Usage this period", "Invoices", "Credit notes", "Payments",
        "Operator actions"]
    assert re.search(r"<h2>Credit balance</h2>\s*<p>5.00 USD</p>", page), page
    assert "Half off: 50 % off,\n      2 invoice(s) left" in page
    # The half-price first invoice was charged and shows as a payment, linked to its invoice.
    assert re.search(r"<td>charge</td><td>succeeded</td>\s*<td>14.50 USD</td>", page), page
    assert f"/admin/invoices/{invoice_id}" in page
    assert f"<td>{admin.id}</td><td>api</td><td>credit_note.created</td><td>invoice {invoice_id}</td>" in page
    assert "cannot be shown right now" not in page


def test_the_customer_page_says_when_payments_cannot_be_read(ui, world, admin, monkeypatch):
    log_in(ui)
    world.user("nopay@example.com")
    user = db.session.scalar(select(User).where(User.email == "nopay@example.com"))
    monkeypatch.setattr(transactions, "service_request", _unreachable)
    page = ui.get(f"/admin/customers/{user.id}")
    assert page.status_code == 200
    assert "Payment service unavailable: payments cannot be shown right now." in page.get_data(as_text=True)
    assert ui.get("/admin/customers/999999").status_code == 404


def _unreachable(*args, **kwargs):
    raise requests.ConnectionError("payment service down")


def test_only_admin_pages_open_a_cookie_session(app):
    interface = app.session_interface
    with app.test_request_context("/v1/auth/me"):
        assert isinstance(interface.open_session(app, flask.request), NullSession)
    with app.test_request_context("/admin/customers"):
        opened = interface.open_session(app, flask.request)
        assert isinstance(opened, SecureCookieSession) and not isinstance(opened, NullSession)
