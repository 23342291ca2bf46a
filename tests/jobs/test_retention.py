"""Retention (jobs/retention.py): rows past their window go, newer and unfinished ones stay, runs are bounded."""
import time
import uuid
from datetime import timedelta

import pytest

from core import clock
from core.extensions import db
from jobs import retention, schedule
from payment_app.models import MockGatewayRequest, PaymentInbox, PaymentOutbox
from subscription_app.integrations.models import IntegrationEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from subscription_app.models import SubscriptionInbox, SubscriptionOutbox
from subscription_app.refresh_tokens import RefreshToken


def _ago(days: float):
    return clock.utcnow() - timedelta(days=days)


def _outbox(model, label, created_days, delivered_days=None, dead=False):
    return model(id=uuid.uuid4(), event_type=label, target="t", payload={}, created_at=_ago(created_days),
                 delivered_at=_ago(delivered_days) if delivered_days is not None else None,
                 dead_at=_ago(created_days) if dead else None)


def _gateway(label, days, answered=True):
    return MockGatewayRequest(id=label, idempotency_key=label, operation="charge", reference="r", amount_cents=100,
                              currency="USD", approved=True, created_at=_ago(days),
                              answered_at=_ago(days) if answered else None)


def _attempts(days_list):
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url="http://127.0.0.1:9/hook", secret="s" * 32)
    event = IntegrationEvent(id="evt_1", type="invoice.paid", api_version="1", object_type="invoice",
                             object_id="x", payload={}, created_at=_ago(60))
    db.session.add_all([endpoint, event])
    db.session.flush()
    db.session.add(WebhookDelivery(id="whd_1", event_id=event.id, endpoint_id=endpoint.id))
    db.session.flush()
    db.session.add_all(WebhookAttempt(delivery_id="whd_1", attempted_at=_ago(d), latency_ms=1) for d in days_list)


@pytest.fixture
def aged_rows(app):
    with app.app_context():
        for model in (SubscriptionOutbox, PaymentOutbox):
            db.session.add_all([
                _outbox(model, "old-delivered", 40, delivered_days=31),
                _outbox(model, "new-delivered", 40, delivered_days=29),   # delivered late: its window starts then
                _outbox(model, "old-undelivered", 40),
                _outbox(model, "old-dead", 40, dead=True),
            ])
        for model in (SubscriptionInbox, PaymentInbox):
            db.session.add_all([model(event_id="old", event_type="x", received_at=_ago(31)),
                                model(event_id="new", event_type="x", received_at=_ago(29))])
        db.session.add_all([_gateway("old", 91), _gateway("new", 89), _gateway("old-unanswered", 91, answered=False)])
        _attempts([31, 29])
        db.session.commit()
    return app


def _left(app):
    with app.app_context():
        return {
            "sub_outbox": sorted(r.event_type for r in db.session.query(SubscriptionOutbox)),
            "pay_outbox": sorted(r.event_type for r in db.session.query(PaymentOutbox)),
            "sub_inbox": sorted(r.event_id for r in db.session.query(SubscriptionInbox)),
            "pay_inbox": sorted(r.event_id for r in db.session.query(PaymentInbox)),
            "gateway": sorted(r.id for r in db.session.query(MockGatewayRequest)),
            "attempts": db.session.query(WebhookAttempt).count(),
        }


def test_rows_past_their_window_go_and_the_rest_stay(aged_rows):
    done = retention.purge_expired_rows()
    assert done == {"sub_outbox_events": 1, "pay_outbox_events": 1, "sub_inbox_events": 1,
                    "pay_inbox_events": 1, "mock_gateway_requests": 1, "webhook_attempts": 1,
                    "integration_events": 0, "refresh_tokens": 0}
    kept_outbox = ["new-delivered", "old-dead", "old-undelivered"]
    assert _left(aged_rows) == {"sub_outbox": kept_outbox, "pay_outbox": kept_outbox, "sub_inbox": ["new"],
                                "pay_inbox": ["new"], "gateway": ["new", "old-unanswered"], "attempts": 1}
    assert set(retention.purge_expired_rows().values()) == {0}


def _event(event_id, days, delivery_status=None, endpoint=None):
    db.session.add(IntegrationEvent(id=event_id, type="invoice.paid", api_version="1", object_type="invoice",
                                    object_id="x", payload={}, created_at=_ago(days)))
    if delivery_status is not None:
        db.session.flush()
        db.session.add(WebhookDelivery(id=f"whd_{event_id}", event_id=event_id, endpoint_id=endpoint.id,
                                       status=delivery_status))
        db.session.flush()
        # Recent, so that only the cascade from its event can take it.
        db.session.add(WebhookAttempt(delivery_id=f"whd_{event_id}", attempted_at=_ago(1), latency_ms=1))


def test_integration_events_past_the_replay_horizon_go_with_their_finished_deliveries(app):
    with app.app_context():
        endpoint = WebhookEndpoint(id=uuid.uuid4(), url="http://127.0.0.1:9/hook", secret="s" * 32)
        db.session.add(endpoint)
        db.session.flush()
        _event("evt_old", 91)
        _event("evt_old_delivered", 91, "succeeded", endpoint)
        _event("evt_old_dead", 91, "dead", endpoint)
        _event("evt_old_pending", 91, "pending", endpoint)  # still being retried: it stays
        _event("evt_new", 89, "succeeded", endpoint)
        db.session.commit()
    assert retention.purge_expired_rows()["integration_events"] == 3
    with app.app_context():
        assert sorted(db.session.scalars(db.select(IntegrationEvent.id))) == ["evt_new", "evt_old_pending"]
        assert sorted(db.session.scalars(db.select(WebhookDelivery.event_id))) == ["evt_new", "evt_old_pending"]
        assert sorted(db.session.scalars(db.select(WebhookAttempt.delivery_id))) == ["whd_evt_new",
                                                                                    "whd_evt_old_pending"]
    assert app.config["SETTINGS"].integration_event_retention_days == 90  # the replay horizon (docs/retention.md)


def test_a_run_stops_at_its_budget_after_one_batch(app, _apps, monkeypatch):
    for service_app in _apps.values():
        tight = service_app.config["SETTINGS"].model_copy(update={"retention_batch_rows": 2,
                                                                   "retention_budget_seconds": 0})
        monkeypatch.setitem(service_app.config, "SETTINGS", tight)
    with app.app_context():
        db.session.add_all(_outbox(SubscriptionOutbox, f"e{i}", 40, delivered_days=35) for i in range(5))
        db.session.commit()
    assert retention.purge_expired_rows()["sub_outbox_events"] == 2  # one batch, then the budget is spent
    with app.app_context():
        assert db.session.query(SubscriptionOutbox).count() == 3
        rule = retention.RULES[0]
        assert retention.purge_rule(rule, time.monotonic() + 60) == 3  # with time left it batches to the end
        assert db.session.query(SubscriptionOutbox).count() == 0


def test_retention_is_a_registered_periodic_job(app):
    entry = next(j for j in schedule.PERIODIC_JOBS if j.job_id == "retention")
    assert entry.func is retention.purge_expired_rows
    assert entry.interval_seconds == app.config["SETTINGS"].retention_interval_seconds


def test_refresh_tokens_go_a_week_after_they_expire(app, make_user):
    """An expired refresh token is refused by its own exp claim; its row only served reuse detection until then."""
    user, _ = make_user()
    with app.app_context():
        family = uuid.uuid4()
        db.session.add_all([RefreshToken(jti=uuid.uuid4(), user_id=user.id, family_id=family, expires_at=_ago(days))
                            for days in (8, 6, -30)])
        db.session.commit()
    assert retention.purge_expired_rows()["refresh_tokens"] == 1
    with app.app_context():
        left = sorted(round((clock.utcnow() - t.expires_at).total_seconds() / 86400)
                      for t in db.session.scalars(db.select(RefreshToken)))
        assert left == [-30, 6]
    assert app.config["SETTINGS"].refresh_token_retention_days == 7
