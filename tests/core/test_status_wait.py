"""GET /v1/subscriptions/{id}?wait=N: answers when the status changes, or at the deadline; no DB connection held."""
import runpy
import threading
import time

import pytest

from core import status_listener, status_wait
from core.extensions import db
from core.settings import load_server_settings, load_settings
from subscription_app.models import Subscription
from tests.support.billing_support import PRO_MONTHLY_ID, fail, pay, payment_data, send_event
from tests.support.sql import count, recorded

pytestmark = pytest.mark.subscription


def _incomplete(client, headers) -> dict:
    r = client.post("/v1/subscriptions", json={"plan_id": str(PRO_MONTHLY_ID)}, headers=headers)
    assert r.status_code == 201 and r.json["status"] == "incomplete", r.json
    return r.json


def _get_in_thread(app, path, headers):
    """Start the GET in another thread (its own test client); returns (thread, result dict)."""
    result = {}

    def run():
        started = time.monotonic()
        response = app.test_client().get(path, headers=headers)
        result.update(status=response.status_code, json=response.json, headers=dict(response.headers),
                      seconds=time.monotonic() - started)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _wait_for_subscriber(app, sub_id, seconds=5.0):
    name = status_wait.channel("subscription", sub_id)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with app.app_context():
            if status_wait.listener_for_app().waiting(name) == 1:
                return
        time.sleep(0.02)
    raise AssertionError("the waiting request never subscribed")


def test_wait_answers_as_soon_as_the_payment_lands_and_holds_no_connection(app, client, seeded, make_user):
    user, h = make_user()
    sub = _incomplete(client, h)
    held_here = db.engine.pool.checkedout()  # this thread's own (the test's request context)
    thread, result = _get_in_thread(app, f"/v1/subscriptions/{sub['id']}?wait=10", h)
    _wait_for_subscriber(app, sub["id"])
    time.sleep(0.2)  # past the subscribe: the waiting request has read once and is blocked on Redis
    assert db.engine.pool.checkedout() == held_here  # the waiting request gave its connection back
    assert pay(client, sub["latest_invoice"], user.id).json["processed"] is True
    thread.join(10)
    assert result["status"] == 200 and result["json"]["status"] == "active"
    assert result["json"]["latest_invoice"]["status"] == "paid"
    assert result["seconds"] < 5, result["seconds"]
    assert "Retry-After" not in result["headers"]


def test_the_wait_reads_the_subscription_alone_and_the_answer_once(app, client, seeded, make_user):
    """The read before the wait decides only whether to wait: the invoice, its lines, credit notes and the
    discount are read once, for the answer (the payment webhook in between reads none of them)."""
    user, h = make_user()
    sub = _incomplete(client, h)
    with recorded(app) as sent:
        thread, result = _get_in_thread(app, f"/v1/subscriptions/{sub['id']}?wait=10", h)
        _wait_for_subscriber(app, sub["id"])
        assert pay(client, sub["latest_invoice"], user.id).json["processed"] is True
        thread.join(10)
    assert result["json"]["status"] == "active" and result["json"]["latest_invoice"]["status"] == "paid"
    assert count(sent, "FROM invoice_lines") == 1 and count(sent, "FROM credit_notes") == 1
    assert count(sent, "FROM discounts") == 1


def test_a_declined_first_payment_answers_the_wait_at_once_still_incomplete(app, client, seeded, make_user):
    user, h = make_user()
    sub = _incomplete(client, h)
    thread, result = _get_in_thread(app, f"/v1/subscriptions/{sub['id']}?wait=8", h)
    _wait_for_subscriber(app, sub["id"])
    assert fail(client, sub["latest_invoice"], user.id).status_code == 200
    thread.join(10)
    assert result["status"] == 200 and result["json"]["status"] == "incomplete"
    assert result["json"]["latest_invoice"]["attempt_count"] == 1  # what the customer learns: declined, pay again
    assert result["seconds"] < 5, result["seconds"]


def test_a_duplicate_decline_wakes_nobody(app, client, seeded, make_user):
    """The inbox refuses a replayed payment.failed: nothing changed, so the wait runs to its deadline."""
    user, h = make_user()
    sub = _incomplete(client, h)
    declined = payment_data(sub["latest_invoice"], user_id=user.id, failure_reason="card_declined")
    assert send_event(client, "payment.failed", declined, event_id="evt-declined").status_code == 200
    thread, result = _get_in_thread(app, f"/v1/subscriptions/{sub['id']}?wait=2", h)
    _wait_for_subscriber(app, sub["id"])
    assert send_event(client, "payment.failed", declined, event_id="evt-declined").status_code == 200
    thread.join(10)
    assert result["json"]["latest_invoice"]["attempt_count"] == 1
    assert 1.9 <= result["seconds"] < 4, result["seconds"]


def test_a_change_committed_behind_the_api_is_read_at_the_deadline(app, client, seeded, make_user):
    """No announcement (plain SQL): the answer still carries the state as it is at the deadline."""
    user, h = make_user()
    sub = _incomplete(client, h)
    thread, result = _get_in_thread(app, f"/v1/subscriptions/{sub['id']}?wait=1", h)
    _wait_for_subscriber(app, sub["id"])
    with app.app_context():
        db.session.execute(db.text("UPDATE subscriptions SET status = 'incomplete_expired' WHERE id = :id"),
                           {"id": sub["id"]})
        db.session.commit()
    thread.join(10)
    assert result["json"]["status"] == "incomplete_expired" and 0.9 <= result["seconds"] < 3


def test_a_settled_subscription_answers_at_once(app, client, seeded, make_user):
    user, h = make_user()
    sub = _incomplete(client, h)
    pay(client, sub["latest_invoice"], user.id)
    started = time.monotonic()
    r = client.get(f"/v1/subscriptions/{sub['id']}?wait=10", headers=h)
    assert r.status_code == 200 and r.json["status"] == "active" and time.monotonic() - started < 1


@pytest.mark.parametrize("value, message", [("-1", "Must be between 0 and 10 seconds."),
                                            ("11", "Must be between 0 and 10 seconds."),
                                            ("soon", "Not a valid integer.")])
def test_a_bad_wait_is_a_422_naming_the_field(client, seeded, make_user, value, message):
    user, h = make_user()
    sub = _incomplete(client, h)
    r = client.get(f"/v1/subscriptions/{sub['id']}?wait={value}", headers=h)
    assert r.status_code == 422
    assert r.json["errors"]["query"]["wait"] == [message]


def test_no_free_slot_answers_at_once_with_retry_after(app, client, seeded, make_user, monkeypatch):
    user, h = make_user()
    sub = _incomplete(client, h)
    monkeypatch.setitem(app.config, "SETTINGS", app.config["SETTINGS"].with_overrides(status_wait_slots=0))
    started = time.monotonic()
    r = client.get(f"/v1/subscriptions/{sub['id']}?wait=10", headers=h)
    assert r.status_code == 200 and r.json["status"] == "incomplete" and time.monotonic() - started < 1
    assert r.headers["Retry-After"] == "1"


def test_at_most_gunicorn_threads_requests_run_at_once_and_a_wait_gives_its_turn_back(app, client, seeded,
                                                                                      make_user):
    user, h = make_user()
    turns = app.extensions[status_wait._TURNS]
    size = load_server_settings().gunicorn_threads
    subs = []
    for _ in range(size + 1):
        other, oh = make_user()
        subs.append((oh, _incomplete(client, oh)))
    waits = [_get_in_thread(app, f"/v1/subscriptions/{sub['id']}?wait=3", oh) for oh, sub in subs]
    for oh, sub in subs:
        _wait_for_subscriber(app, sub["id"])  # more waits than turns: each gave its turn back
    time.sleep(0.3)  # past the subscribe and the first read
    taken = [turns.acquire(blocking=False) for _ in range(size)]
    try:
        assert all(taken)  # no waiting request holds one
        blocked, result = _get_in_thread(app, "/v1/auth/me", h)
        time.sleep(0.3)
        assert result == {}  # no turn free: it queues instead of running beside the others
    finally:
        for _ in taken:
            turns.release()
    blocked.join(5)
    assert result["status"] == 200
    for thread, _ in waits:
        thread.join(10)


def test_status_changes_are_announced_after_commit_only(app, seeded, make_user, client):
    user, h = make_user()
    sub = _incomplete(client, h)
    pubsub = app.extensions["redis"].pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(status_wait.channel("subscription", sub["id"]))
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    with app.app_context():
        row = db.session.get(Subscription, sub["id"])
        row.status = "canceled"
        db.session.rollback()
        assert pubsub.get_message(timeout=0.3) is None  # rolled back: nothing announced
        row = db.session.get(Subscription, sub["id"])
        row.status = "active"
        db.session.commit()
    assert pubsub.get_message(timeout=2)["data"].startswith(status_listener.AT.encode())  # with its time
    pubsub.close()


def test_gunicorn_settings_leave_room_for_waits():
    """gthread (a wait holds one thread, not the worker), a thread per wait slot beyond the working ones,
    and no timeout mid-wait."""
    conf = runpy.run_path("gunicorn.conf.py")
    server = load_server_settings()
    settings = load_settings()
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] == server.gunicorn_threads + settings.status_wait_slots
    assert settings.status_wait_max_seconds < conf["timeout"] == server.gunicorn_timeout
    assert settings.status_wait_max_seconds < conf["graceful_timeout"]  # a restart lets the waits finish
