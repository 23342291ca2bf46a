"""Idempotency-Key across a crash for POST /v1/subscriptions and /trial (issue #13, item 2).

The database connection is killed right when the decorator stores the answer. The subscription,
its invoice and its charge.requested event commit with that answer or not at all, so a retry
with the key either runs once or replays: one subscription, one charge request, and no 5xx
after a commit.
"""
import pytest
from sqlalchemy import func, select, text

from core.extensions import db
from subscription_app.models import Subscription
from tests.support.billing_support import GOOD_CARD, PRO_MONTHLY_ID, PRO_TRIAL_ID, charge_requests
from tests.support.crashes import connection_killed_when_storing_the_answer

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
ROUTES = {"subscribe": ("/v1/subscriptions", {"plan_id": str(PRO_MONTHLY_ID), "card": GOOD_CARD}),
          "trial": ("/v1/subscriptions/trial", {"trial_plan_id": str(PRO_TRIAL_ID), "card": GOOD_CARD})}


def _subscriptions(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Subscription)
                                 .where(Subscription.user_id == user_id))


def _retry_until_answered(client, post):
    """What a client does: retry with its key; after 409 "in progress", wait out the stale time."""
    answer = post()
    if answer.status_code == 409 and "in progress" in answer.json["message"]:
        with client.application.app_context():
            db.session.execute(text("UPDATE sub_idempotency_keys SET locked_at = now() - interval '1 hour'"))
            db.session.commit()
        answer = post()
    return answer


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_subscription_whose_answer_was_lost_in_a_crash_is_created_once(client, seeded, make_user,
                                                                         payment_stub, route):
    user, h = make_user()
    path, body = ROUTES[route]
    post = lambda: client.post(path, json=body, headers={**h, "Idempotency-Key": f"crash-{route}"})  # noqa: E731
    with connection_killed_when_storing_the_answer(client.application) as fired:
        first = post()
    assert fired
    if first.status_code >= 500:  # nothing may have been committed behind a "try again"
        assert _subscriptions(client.application, user.id) == 0 and charge_requests(client.application) == []
    retried = _retry_until_answered(client, post)
    assert retried.status_code == 201, retried.json
    again = post()
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == retried.json["id"]
    assert _subscriptions(client.application, user.id) == 1
    [charge] = charge_requests(client.application)
    assert charge["data"]["subscription_id"] == retried.json["id"]
    assert charge["data"]["kind"] == ("verify" if route == "trial" else "charge")
