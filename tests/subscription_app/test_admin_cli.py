"""Operator CLI through Flask's CLI runner: users create-admin, subscriptions show."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.admin_cli import format_money, password_problem
from subscription_app.models import Invoice, Subscription, User
from subscription_app.seed import BASIC_MONTHLY_ID, PRO_MONTHLY_ID

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
STRONG = "Correct-Horse-42-battery"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args, **kw: runner.invoke(args=list(args), **kw)


def login(client, email, password):
    return client.post("/v1/auth/login", json={"email": email, "password": password})


@pytest.mark.parametrize("args", [["users", "--help"], ["users", "create-admin", "--help"],
                                  ["subscriptions", "--help"], ["subscriptions", "show", "--help"]])
def test_help(cli, args):
    result = cli(*args)
    assert result.exit_code == 0 and "Usage:" in result.output


def test_create_admin_with_password_option(cli, client):
    result = cli("users", "create-admin", "--email", "Ops@Example.com", "--password", STRONG)
    assert result.exit_code == 0, result.output
    assert "created admin ops@example.com" in result.output
    user = db.session.scalar(select(User).where(User.email == "ops@example.com"))
    assert user.role == "admin" and STRONG not in user.password_hash
    assert login(client, "ops@example.com", STRONG).status_code == 200


def test_create_admin_prompts_with_confirmation(cli, client):
    result = cli("users", "create-admin", "--email", "prompted@example.com", input=f"{STRONG}\n{STRONG}\n")
    assert result.exit_code == 0, result.output
    assert STRONG not in result.output  # hidden input
    assert login(client, "prompted@example.com", STRONG).status_code == 200


def test_create_admin_prompt_mismatch_creates_nothing(cli):
    result = cli("users", "create-admin", "--email", "typo@example.com", input=f"{STRONG}\n{STRONG}x\n")
    assert result.exit_code != 0 and "do not match" in result.output
    assert db.session.scalar(select(User).where(User.email == "typo@example.com")) is None


@pytest.mark.security
@pytest.mark.parametrize("password", ["short1A!", "password1234", "aaaaaaaaaaaaaaaa", "alllowercaseletters",
                                      "ops-team-Secret-1", "x" * 60 + "é" * 10])
def test_create_admin_refuses_weak_passwords(cli, password):
    result = cli("users", "create-admin", "--email", "ops-team@example.com", "--password", password)
    assert result.exit_code == 1 and "weak password" in result.output
    assert db.session.scalar(select(User).where(User.email == "ops-team@example.com")) is None


def test_create_admin_promotes_an_existing_user_keeping_the_password(cli, client, make_user):
    user, headers = make_user(email="member@example.com", password="member-pass-1")
    result = cli("users", "create-admin", "--email", "member@example.com")
    assert result.exit_code == 0 and "promoted to admin" in result.output
    db.session.refresh(user)
    assert user.role == "admin"
    assert login(client, "member@example.com", "member-pass-1").status_code == 200
    assert client.get("/v1/auth/me", headers=headers).status_code == 200  # sessions kept
    again = cli("users", "create-admin", "--email", "member@example.com")
    assert again.exit_code == 0 and "already an admin" in again.output


@pytest.mark.security
def test_create_admin_with_new_password_for_existing_user_revokes_tokens(cli, client, make_user):
    _, headers = make_user(email="member@example.com", password="member-pass-1")
    result = cli("users", "create-admin", "--email", "member@example.com", "--password", STRONG)
    assert result.exit_code == 0 and "tokens revoked" in result.output
    assert client.get("/v1/auth/me", headers=headers).status_code == 401
    assert login(client, "member@example.com", STRONG).status_code == 200


def test_create_admin_rejects_a_non_email(cli):
    result = cli("users", "create-admin", "--email", "not-an-email", "--password", STRONG)
    assert result.exit_code == 2 and "not an email" in result.output


def test_subscriptions_show(cli, seeded, make_user):
    user, _ = make_user(email="buyer@example.com")
    now = clock.utcnow()
    old = Subscription(user_id=user.id, plan_id=BASIC_MONTHLY_ID, status="canceled",
                       current_period_start=now - timedelta(days=60), current_period_end=now - timedelta(days=30),
                       billing_cycle_anchor=now - timedelta(days=60))
    live = Subscription(user_id=user.id, plan_id=PRO_MONTHLY_ID, status="past_due", current_period_start=now,
                        current_period_end=now + timedelta(days=30), billing_cycle_anchor=now - timedelta(days=45),
                        failed_payment_attempts=2)
    db.session.add_all([old, live])
    db.session.flush()
    db.session.add_all([
        Invoice(user_id=user.id, subscription_id=live.id, status="open", reason="subscription_cycle",
                currency="USD", amount_due_cents=2900, attempt_count=2),
        Invoice(user_id=user.id, subscription_id=old.id, status="paid", reason="subscription_create",
                currency="USD", amount_due_cents=900, amount_paid_cents=900),
    ])
    db.session.commit()
    result = cli("subscriptions", "show", "Buyer@Example.com")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"user {user.id}  buyer@example.com  role=user" in out
    assert "Subscriptions (2)" in out and "Open invoices (1)" in out
    assert str(live.id) in out and "pro_monthly" in out and "past_due" in out
    assert "basic_monthly" in out and "canceled" in out
    assert "29.00 USD" in out and "subscription_cycle" in out
    assert "subscription_create" not in out  # the paid invoice is not open
    header = next(line for line in out.splitlines() if line.startswith("id "))
    assert "status" in header and "period" in header and "anchor" in header
    live_row = next(line for line in out.splitlines() if line.startswith(str(live.id)))
    assert (now - timedelta(days=45)).strftime("%Y-%m-%d %H:%M") in live_row  # the billing cycle anchor


def test_subscriptions_show_user_without_any(cli, make_user):
    make_user(email="idle@example.com")
    result = cli("subscriptions", "show", "idle@example.com")
    assert result.exit_code == 0 and "Subscriptions (0)" in result.output and "Open invoices (0)" in result.output


def test_subscriptions_show_unknown_email(cli):
    result = cli("subscriptions", "show", "nobody@example.com")
    assert result.exit_code == 1 and "no user with email nobody@example.com" in result.output


def test_money_and_password_rules():
    assert format_money(1999, "USD") == "19.99 USD" and format_money(-50, "EUR") == "-0.50 EUR"
    assert format_money(500, "JPY") == "500 JPY"
    assert password_problem(STRONG, "ops@example.com") is None
