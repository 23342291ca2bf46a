"""The `world` fixture: both real services in-process, as a user drives them; only the gateway's
randomness and the clock are controlled."""
import pytest

from core import clock
from core.extensions import db
from payment_app import gateway
from payment_app.models import MockGatewayRequest
from subscription_app.billing.renewals import run_cycle
from subscription_app.seed import PRO_MONTHLY_ID
from tests.support.payment_fixtures import drain

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
DECLINED_CARD = {"number": "4000000000000002", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


@pytest.fixture
def world(app, client, payment_client, seeded, redis_conn, monkeypatch):
    class World:
        def approve(self, yes=True):
            monkeypatch.setattr(gateway, "random_fraction", lambda: 0.0 if yes else 1.0)  # 1.0 is never below the success rate

        def user(self, email):
            r = client.post("/v1/auth/register", json={"email": email, "password": "password123"})
            assert r.status_code == 201, r.json
            return {"Authorization": f"Bearer {r.json['access_token']}"}

        def subscribe(self, h, plan=PRO_MONTHLY_ID, card=CARD):
            body = {"plan_id": str(plan)}
            if card:
                body["card"] = card
            r = client.post("/v1/subscriptions", json=body, headers=h)
            assert r.status_code == 201, r.json
            return r.json

        def run(self):
            drain(redis_conn)

        def sub(self, h, sub_id):
            return client.get(f"/v1/subscriptions/{sub_id}", headers=h).json

        def invoices(self, h):
            return client.get("/v1/invoices", headers=h).json["items"]

        def transactions(self, h):
            return payment_client.get("/v1/payments/transactions", headers=h).json["items"]

        def gateway_requests(self, operation=None):
            with app.app_context():
                q = db.session.query(MockGatewayRequest)
                if operation:
                    q = q.filter_by(operation=operation)
                return q.all()

        def billing_cycle(self):
            return run_cycle()

    w = World()
    w.approve(True)
    yield w
    clock.set_offset(0)
