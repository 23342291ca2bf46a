"""A transaction reads the webhook endpoints once, however many events it emits (a bill-run batch emits
hundreds), and still sees the endpoints it adds, changes or deletes itself."""
import uuid

import pytest

from core.extensions import db
from subscription_app import integrations
from subscription_app.integrations.models import WebhookDelivery, WebhookEndpoint
from tests.support.sql import count, recorded

pytestmark = [pytest.mark.subscription]
READ = "FROM webhook_endpoints"


def _endpoint(**kw) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url="https://example.com/hook", secret="whsec_" + "a" * 32, **kw)
    db.session.add(endpoint)
    return endpoint


def _deliveries(event) -> set:
    return set(db.session.scalars(db.select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)))


def test_many_events_in_one_transaction_read_the_endpoints_once(app):
    with app.app_context():
        every, invoices_only = _endpoint(), _endpoint(event_types=["invoice.paid"])
        _endpoint(enabled=False)
        db.session.commit()
        with recorded(app) as sent:
            events = [integrations.emit("invoice.paid" if i % 2 else "invoice.created", "invoice", uuid.uuid4(), {})
                      for i in range(10)]
            db.session.commit()
        assert count(sent, READ) == 1
        # Flushed together at the commit: one INSERT for the ten events, not one each.
        assert count(sent, "INSERT INTO integration_events") == 1
        for i, event in enumerate(events):
            assert _deliveries(event) == ({every.id, invoices_only.id} if i % 2 else {every.id})


def test_the_next_transaction_reads_them_again(app):
    with app.app_context():
        first = _endpoint()
        db.session.commit()
        before = integrations.emit("invoice.created", "invoice", uuid.uuid4(), {})
        db.session.commit()
        second = _endpoint()
        db.session.commit()
        with recorded(app) as sent:
            after = integrations.emit("invoice.created", "invoice", uuid.uuid4(), {})
            db.session.commit()
        assert count(sent, READ) == 1
        assert _deliveries(before) == {first.id}
        assert _deliveries(after) == {first.id, second.id}


def test_an_endpoint_added_changed_or_deleted_in_the_transaction_counts_for_its_later_events(app):
    with app.app_context():
        kept, disabled = _endpoint(), _endpoint()
        deleted = _endpoint(event_types=["invoice.paid"])
        db.session.commit()
        one = integrations.emit("invoice.created", "invoice", uuid.uuid4(), {})
        added = _endpoint()  # pending, not flushed yet
        two = integrations.emit("invoice.created", "invoice", uuid.uuid4(), {})
        disabled.enabled = False  # changed, not flushed yet
        three = integrations.emit("invoice.created", "invoice", uuid.uuid4(), {})
        db.session.delete(deleted)  # not flushed yet either
        four = integrations.emit("invoice.paid", "invoice", uuid.uuid4(), {})
        db.session.commit()
        assert _deliveries(one) == {kept.id, disabled.id}
        assert _deliveries(two) == {kept.id, disabled.id, added.id}
        assert _deliveries(three) == {kept.id, added.id}
        assert _deliveries(four) == {kept.id, added.id}


def test_an_endpoint_of_a_rolled_back_savepoint_gets_nothing(app):
    with app.app_context():
        kept = _endpoint()
        db.session.commit()
        integrations.emit("invoice.created", "invoice", uuid.uuid4(), {})
        with pytest.raises(ValueError), db.session.begin_nested():
            _endpoint()
            db.session.flush()
            raise ValueError
        event = integrations.emit("invoice.created", "invoice", uuid.uuid4(), {})
        db.session.commit()
        assert _deliveries(event) == {kept.id}
