"""Issue #13 item 7: a deactivated or deleted user's tokens are refused on every route of both
services, through the token version check (no extra lookup per request)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from core import tokens
from core.extensions import db
from subscription_app.models import User
from tests.support.payment_fixtures import SUCCESS_CARD
from tests.support.usage_support import new_subscriber, use

pytestmark = pytest.mark.subscription
ONE_OFF = {"amount_cents": 777, "currency": "USD", "description": "Stickers", "card": SUCCESS_CARD}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


@pytest.fixture
def subscriber(app, client, make_user):
    user, headers, sub = new_subscriber(make_user)
    login = client.post("/v1/auth/login", json={"email": user.email, "password": "correct-horse-1"})
    assert login.status_code == 200
    return user, headers, sub, login.json


def _calls(client, pay, headers, sub, refresh_token):
    """One call per kind of route: subscription reads and writes, usage, payment reads and a charge."""
    return {
        "me": client.get("/v1/auth/me", headers=headers).status_code,
        "subscription": client.get(f"/v1/subscriptions/{sub.id}", headers=headers).status_code,
        "upgrade": client.put(f"/v1/subscriptions/{sub.id}/plan", json={"plan_id": str(sub.plan_id)},
                              headers=headers).status_code,
        "usage": use(client, headers).status_code,
        "transactions": pay.client.get("/v1/payments/transactions", headers=headers).status_code,
        "charge": pay.process(headers, ONE_OFF).status_code,
        "refresh": client.post("/v1/auth/refresh", headers=bearer(refresh_token)).status_code,
    }


def _all_refused(calls):
    return all(code == 401 for code in calls.values())


def test_a_deactivated_user_is_refused_everywhere_and_cannot_log_in(app, client, pay, subscriber, cli):
    user, headers, sub, login = subscriber
    assert client.get("/v1/auth/me", headers=headers).status_code == 200
    assert pay.process(headers, ONE_OFF).status_code == 202  # the same charge works while active
    result = cli("users", "deactivate", user.email.upper())
    assert result.exit_code == 0 and "deactivated" in result.output, result.output
    calls = _calls(client, pay, headers, sub, login["refresh_token"])
    assert _all_refused(calls), calls
    again = client.post("/v1/auth/login", json={"email": user.email, "password": "correct-horse-1"})
    assert again.status_code == 401


def test_reactivation_allows_a_new_login_but_not_the_old_tokens(app, client, pay, subscriber, cli):
    user, headers, sub, login = subscriber
    assert cli("users", "deactivate", user.email).exit_code == 0
    result = cli("users", "reactivate", user.email)
    assert result.exit_code == 0 and "reactivated" in result.output, result.output
    assert _all_refused(_calls(client, pay, headers, sub, login["refresh_token"]))
    fresh = client.post("/v1/auth/login", json={"email": user.email, "password": "correct-horse-1"}).json
    assert client.get("/v1/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
    assert pay.client.get("/v1/payments/transactions", headers=bearer(fresh["access_token"])).status_code == 200


def test_the_cli_names_an_unknown_email(cli):
    result = cli("users", "deactivate", "ghost@example.com")
    assert result.exit_code != 0 and "no user with email ghost@example.com" in result.output


@pytest.mark.parametrize("change", ["UPDATE users SET is_active = false WHERE id = :id",
                                    "DELETE FROM users WHERE id = :id"])
def test_a_user_changed_behind_the_apps_back_is_refused_once_the_cache_expires(app, client, pay, make_user,
                                                                               redis_conn, change):
    user, headers = make_user()
    assert pay.client.get("/v1/payments/transactions", headers=headers).status_code == 200
    user_id = user.id
    db.session.execute(text(change), {"id": user_id})
    db.session.commit()
    redis_conn.delete(tokens.VERSION_KEY.format(user_id=user_id))  # the cache's TTL ran out
    assert pay.process(headers, ONE_OFF).status_code == 401
    assert client.get("/v1/auth/me", headers=headers).status_code == 401
    assert use(client, headers).status_code == 401


def test_admin_endpoint_deactivates_and_reactivates(app, client, make_user, subscriber):
    user, headers, _, _ = subscriber
    _, admin = make_user(role="admin")
    _, other = make_user()
    url = f"/v1/admin/users/{user.id}"
    refused = client.post(f"{url}/deactivate", headers=other)
    assert refused.status_code == 403 and client.get("/v1/auth/me", headers=headers).status_code == 200
    assert client.post("/v1/admin/users/999999/deactivate", headers=admin).status_code == 404
    r = client.post(f"{url}/deactivate", headers=admin)
    assert r.status_code == 200 and r.json["is_active"] is False, r.json
    assert client.get("/v1/auth/me", headers=headers).status_code == 401
    r = client.post(f"{url}/reactivate", headers=admin)
    assert r.status_code == 200 and r.json["is_active"] is True
    assert db.session.get(User, user.id).is_active is True
    assert client.get("/v1/auth/me", headers=headers).status_code == 401  # the old token stays revoked


def test_a_demoted_admin_loses_admin_rights_at_once_on_both_services(app, client, pay, make_user, cli):
    """The role is in the JWT: demoting signs out every session, so no old admin token refunds anything."""
    admin, admin_headers = make_user("demoted@example.com", role="admin")
    make_user("stays@example.com", role="admin")  # the last admin cannot be demoted
    customer, customer_headers = make_user()
    txn = pay.pay_invoice(customer.id, customer_headers, SUCCESS_CARD, amount_due_cents=1500).json
    pay.drain()
    assert client.get("/v1/admin/customers", headers=admin_headers).status_code == 200
    result = cli("users", "demote", "Demoted@example.com")
    assert result.exit_code == 0 and "demoted to user, every token revoked" in result.output, result.output
    assert client.get("/v1/admin/customers", headers=admin_headers).status_code == 401
    refund = pay.client.post(f"/v1/payments/refund/{txn['id']}", json={}, headers=admin_headers)
    assert refund.status_code == 401
    fresh = client.post("/v1/auth/login", json={"email": "demoted@example.com", "password": "correct-horse-1"}).json
    assert client.get("/v1/admin/customers", headers=bearer(fresh["access_token"])).status_code == 403
    with app.app_context():
        assert db.session.get(User, admin.id).role == "user"
    again = cli("users", "demote", "demoted@example.com")
    assert again.exit_code == 0 and "not an admin, unchanged" in again.output


def test_the_last_admin_cannot_be_demoted(app, make_user, cli):
    make_user("only-admin@example.com", role="admin")
    result = cli("users", "demote", "only-admin@example.com")
    assert result.exit_code != 0 and "the last active admin" in result.output
