"""The late-increment race (issue #17): increments accepted for period P while P is being closed
land on P's invoice or in P+1 (or are refused with a reason), never lost, never counted twice.

An entitlement cached before the renewal commits still names P, so without care an increment
can reach P's Redis counter after the renewal's final read: in the ledger, on no invoice.
"""
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime

import pytest
from sqlalchemy import func, select

from core import clock
from core.extensions import db
from subscription_app.usage import arrears, ledger
from subscription_app.usage.models import UsageCounter, UsageEvent
from tests.support.billing_support import BASIC_MONTHLY_ID, advance_to, run_cycle, subscribe_and_pay
from tests.support.usage_support import use

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]
BEFORE = 100  # api_calls used in P before its end


@pytest.fixture
def period(app, client, basic_soft, make_user, payment_stub):
    """A Basic subscriber with BEFORE api_calls in P (entitlement cached), the clock just past P's end."""
    user, h = make_user()
    sub = subscribe_and_pay(client, h, user.id, plan_id=BASIC_MONTHLY_ID)
    assert use(client, h, "api_calls", BEFORE).status_code == 200
    key = client.post("/v1/admin/api-keys", json={"name": "backend"}, headers=basic_soft).json["key"]
    advance_to(app, sub["current_period_end"])
    return user, h, sub, key


def _increment(app, h, key, user_id, n: int) -> dict:
    """One unit of api_calls, by `use` (even n) or as a reported event (odd n): (accepted, refusal reason)."""
    with app.app_context():  # the moved billing clock lives in the app's Redis
        now = clock.utcnow()
    with app.test_client() as c:
        if n % 2 == 0:
            r = use(c, h, "api_calls", 1)
            return {"accepted": r.status_code == 200, "reason": None if r.status_code == 200 else r.status_code}
        event = {"event_id": f"late-{n}-{uuid.uuid4().hex[:6]}", "customer": user_id, "feature": "api_calls",
                 "quantity": 1, "timestamp": now.isoformat()}
        result = c.post("/v1/usage/events", json={"events": [event]}, headers={"X-Api-Key": key}).json["results"][0]
        return {"accepted": result["status"] == "accepted", "reason": result.get("reason"),
                "event_id": event["event_id"]}


def _outcome(app, client, h, sub, user_id):
    """(P's invoiced quantity, P's `use` ledger after a sync plus P's reported events, P+1's usage so far)."""
    invoice = client.get(f"/v1/subscriptions/{sub['id']}", headers=h).json["latest_invoice"]
    [line] = [line for line in invoice["lines"] if line["kind"] == "usage"]
    with app.app_context():
        ledger.sync_dirty()
        rows = db.session.execute(select(UsageCounter.period_start, UsageCounter.used).where(
            UsageCounter.user_id == user_id).order_by(UsageCounter.period_start)).all()
        events = db.session.scalar(select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
            UsageEvent.user_id == user_id, UsageEvent.period_start == _second(sub["current_period_start"])))
    periods = [_second(sub["current_period_start"]), _second(sub["current_period_end"])]
    assert [r.period_start for r in rows] == periods[:len(rows)]  # one ledger row per period
    return line["quantity"], rows[0].used + events, client.get("/v1/usage/api_calls", headers=h).json["used"]


def _second(moment: str) -> datetime:
    """A period's start as the ledger keys it: whole seconds."""
    return datetime.fromisoformat(moment).replace(microsecond=0)


def test_increments_during_the_close_go_to_the_next_period(app, client, monkeypatch, period):
    """Deterministic: 24 increments fire right after the renewal's final read, before it commits."""
    user, h, sub, key = period
    real, answers = arrears.final_sync, []
    pool = ThreadPoolExecutor(max_workers=8)

    def racing(*args, **kwargs):
        used = real(*args, **kwargs)
        futures = [pool.submit(_increment, app, h, key, user.id, n) for n in range(24)]
        answers.extend(futures)
        wait(futures, timeout=1.5)  # they either land now (on P, after its read) or wait for this commit
        return used

    monkeypatch.setattr(arrears, "final_sync", racing)
    assert run_cycle()["renewed_or_ended"] == 1
    pool.shutdown(wait=True)
    results = [f.result() for f in answers]
    accepted = sum(r["accepted"] for r in results)
    assert [r for r in results if not r["accepted"]] == []  # nobody had to be refused: they waited
    invoiced, closed_ledger, next_period = _outcome(app, client, h, sub, user.id)
    assert (invoiced, closed_ledger, next_period) == (BEFORE, BEFORE, accepted) == (BEFORE, BEFORE, 24)
    with app.app_context():  # the moved events belong to P+1, so a recount of P+1 finds them
        moved = db.session.scalars(select(UsageEvent.period_start).where(UsageEvent.user_id == user.id)).all()
    assert len(moved) == 12 and set(moved) == {_second(sub["current_period_end"])}


def test_free_running_close_and_increments_conserve_every_unit(app, client, period):
    """Not staged: the bill run closes P while 8 threads keep incrementing; every accepted unit is billed once."""
    user, h, sub, key = period
    go = threading.Event()

    def closer():
        go.wait()
        return run_cycle()["renewed_or_ended"]

    with ThreadPoolExecutor(max_workers=9) as pool:
        closing = pool.submit(closer)
        futures = [pool.submit(_increment, app, h, key, user.id, n) for n in range(160)]
        go.set()
        results = [f.result() for f in futures]
        assert closing.result() == 1
    accepted = sum(r["accepted"] for r in results)
    refused = [r for r in results if not r["accepted"]]
    assert all(r["reason"] for r in refused), refused  # a refusal always says why
    invoiced, closed_ledger, next_period = _outcome(app, client, h, sub, user.id)
    assert invoiced == closed_ledger  # nothing reached P after its invoice was computed
    assert invoiced + next_period == BEFORE + accepted


def test_a_close_rolled_back_lifts_its_seal(app, client, monkeypatch, period):
    """The renewal fails after sealing P: P is still current, so increments count in P again, then P is billed."""
    user, h, sub, _ = period

    def broken(*args, **kwargs):
        raise RuntimeError("pricing failed")

    with monkeypatch.context() as patch:
        patch.setattr(arrears, "priced_lines", broken)
        assert run_cycle()["failed"] == 1
    r = use(client, h, "api_calls", 1)
    assert r.status_code == 200 and r.json["used"] == BEFORE + 1
    assert datetime.fromisoformat(r.json["period_start"]) == _second(sub["current_period_start"])  # still P
    assert run_cycle()["renewed_or_ended"] == 1
    invoice, closed, next_period = _outcome(app, client, h, sub, user.id)
    assert (invoice, closed, next_period) == (BEFORE + 1, BEFORE + 1, 0)
