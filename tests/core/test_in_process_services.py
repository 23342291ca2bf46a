"""The fast suite's services reach each other through their real apps (tests/support/wsgi_transport.py)."""
from core import http


def test_payment_service_calls_the_real_subscription_internal_api(payment_app, make_user, in_process_services):
    user, _ = make_user()
    with payment_app.app_context():
        settings = payment_app.config["SETTINGS"]
        r = http.service_request("GET", f"{settings.subscription_service_url}/v1/subscriptions/internal/user/{user.id}")
        assert r.status_code == 200 and r.json()["user_id"] == user.id
        refused = http.session().get(f"{settings.subscription_service_url}/v1/subscriptions/internal/user/{user.id}")
        assert refused.status_code == 403
    assert in_process_services["subscription"].calls[-2:] == [
        ("GET", f"/v1/subscriptions/internal/user/{user.id}", 200),
        ("GET", f"/v1/subscriptions/internal/user/{user.id}", 403)]
