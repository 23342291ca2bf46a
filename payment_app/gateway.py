"""The mock payment gateway: it stands for the outside world.

Tokenising is synchronous (as with a real gateway's card vault). Charge, authorise,
void and refund are recorded in the gateway's own ledger (mock_gateway_requests),
one row per idempotency key we send, and answered LATER: a delayed RQ job
(payment_app.gateway.send_answer) POSTs a signed `POST /v1/webhooks/gateway` after
GATEWAY_MIN_DELAY_MS..GATEWAY_MAX_DELAY_MS. Nothing waits during the delay, so
hundreds of payments can be in flight. A retried job sends the same key and gets the
same request back: a card is never charged twice.

Outcome: the success card (PAYMENT_GATEWAY_SUCCESS_CARD) is approved with probability
GATEWAY_SUCCESS_RATE, every other card is declined. All randomness goes through
`random_fraction` (tests replace it).

Each call commits its ledger row on its own, like a remote call would: callers must
not hold uncommitted work of their own in the session when they call it.
"""
from __future__ import annotations

import logging
import math
import random
import secrets
from datetime import datetime, timezone

from flask import current_app
from rq import Retry
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from core.extensions import db
from core.http import encode, signed_post
from core.queues import WEBHOOKS, enqueue_after_commit
from core.cards import Card, normalise_number
from payment_app.models import MockGatewayRequest, MockGatewayToken

log = logging.getLogger(__name__)
DECLINED = "card_declined"
INSUFFICIENT = "insufficient_funds"
# The gateway retries a webhook our service did not acknowledge (like a real gateway would);
# after the retries (~2 min, GATEWAY_ANSWER_REDELIVER_AFTER_SECONDS) payment_app.resubmit.resubmit_stuck
# sends it again.
ANSWER_RETRY = Retry(max=5, interval=[1, 5, 15, 30, 60])


def random_fraction() -> float:
    """The gateway's only source of randomness, in [0, 1)."""
    return random.random()


def _settings():
    return current_app.config["SETTINGS"]


def tokenise(card: Card) -> str:
    """Vault a card; returns the token. The gateway keeps whether it is the success card, not the number."""
    token = "tok_" + secrets.token_hex(12)
    db.session.add(MockGatewayToken(token=token, brand=card.brand, last4=card.last4,
                                    approvable=card.number == normalise_number(_settings().payment_gateway_success_card)))
    db.session.commit()
    return token


def charge(*, token: str, amount_cents: int, currency: str, idempotency_key: str, reference: str,
           batch: list[str] | None = None) -> str:
    """`batch`: a list the new request's id is added to, for schedule_answers, instead of its own answer."""
    return _submit("charge", token=token, amount_cents=amount_cents, currency=currency,
                   idempotency_key=idempotency_key, reference=reference, batch=batch)


def authorise(*, token: str, amount_cents: int, currency: str, idempotency_key: str, reference: str,
              batch: list[str] | None = None) -> str:
    return _submit("authorise", token=token, amount_cents=amount_cents, currency=currency,
                   idempotency_key=idempotency_key, reference=reference, batch=batch)


def void(*, authorisation_id: str, idempotency_key: str, reference: str) -> str:
    parent = db.session.get(MockGatewayRequest, authorisation_id) if authorisation_id else None
    return _submit("void", parent=parent, amount_cents=0, currency=parent.currency if parent else "USD",
                   idempotency_key=idempotency_key, reference=reference)


def refund(*, charge_id: str, amount_cents: int, currency: str, idempotency_key: str, reference: str) -> str:
    parent = db.session.get(MockGatewayRequest, charge_id) if charge_id else None
    return _submit("refund", parent=parent, amount_cents=amount_cents, currency=currency,
                   idempotency_key=idempotency_key, reference=reference)


def _decide(operation: str, *, token: str | None, parent: MockGatewayRequest | None, amount_cents: int):
    """(approved, decline_reason) for a new request."""
    if operation in ("charge", "authorise"):
        vaulted = db.session.get(MockGatewayToken, token) if token else None
        if vaulted is None or not vaulted.approvable:
            return False, DECLINED
        return (True, None) if random_fraction() < _settings().gateway_success_rate else (False, DECLINED)
    if parent is None or not parent.approved:
        return False, "no_such_charge"
    if operation == "refund":
        # The gateway keeps its own books: never refund more than it captured.
        refunded = db.session.scalar(select(func.coalesce(func.sum(MockGatewayRequest.amount_cents), 0))
                                     .where(MockGatewayRequest.parent_id == parent.id,
                                            MockGatewayRequest.operation == "refund",
                                            MockGatewayRequest.approved.is_(True)))
        if refunded + amount_cents > parent.amount_cents:
            return False, "refund_exceeds_charge"
    return True, None


def _submit(operation: str, *, amount_cents: int, currency: str, idempotency_key: str, reference: str,
            token: str | None = None, parent: MockGatewayRequest | None = None,
            batch: list[str] | None = None) -> str:
    """Record the request once per idempotency key and schedule its answer; returns the gateway's id."""
    if parent is not None and operation == "refund":
        # Serialise refunds of one charge so the gateway's own total check is exact.
        db.session.execute(select(MockGatewayRequest.id).where(MockGatewayRequest.id == parent.id)
                           .with_for_update())
    approved, reason = _decide(operation, token=token, parent=parent, amount_cents=amount_cents)
    request_id = "gw_" + secrets.token_hex(12)
    inserted = db.session.scalar(
        insert(MockGatewayRequest).values(
            id=request_id, idempotency_key=idempotency_key, operation=operation, reference=reference,
            token=token, parent_id=parent.id if parent is not None else None, amount_cents=amount_cents,
            currency=currency, approved=approved, decline_reason=reason)
        .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(MockGatewayRequest.id))
    if inserted is not None and batch is None:
        schedule_answer(request_id)
    db.session.commit()
    if inserted is None:  # a retry (or a concurrent duplicate): the first request stands, answered once
        return db.session.scalar(select(MockGatewayRequest.id)
                                 .where(MockGatewayRequest.idempotency_key == idempotency_key))
    if batch is not None:
        batch.append(request_id)
    return request_id


def answer_delay_seconds() -> float:
    s = _settings()
    low, high = s.gateway_min_delay_ms, s.gateway_max_delay_ms
    return (low + (high - low) * random_fraction()) / 1000.0 if high > low else low / 1000.0


def schedule_answer(request_id: str) -> None:
    """The delayed webhook, after the ledger row commits; RQ's scheduler (inside every worker) releases it."""
    enqueue_after_commit(WEBHOOKS, "payment_app.gateway.send_answer", request_id, delay=answer_delay_seconds(),
                         retry=ANSWER_RETRY)


def schedule_answers(request_ids: list[str]) -> None:
    """The answers of requests sent together (a bill-run batch): each request keeps its own delay, rounded
    up to the whole second, and the ones due at the same second go in one webhook (send_answers).

    If this process dies before they are enqueued, payment_app.resubmit sends each answer on its own."""
    due: dict[int, list[str]] = {}
    for request_id in request_ids:
        due.setdefault(math.ceil(answer_delay_seconds()), []).append(request_id)
    for delay, ids in sorted(due.items()):
        enqueue_after_commit(WEBHOOKS, "payment_app.gateway.send_answers", ids, delay=delay, retry=ANSWER_RETRY)


def answer_event(row: MockGatewayRequest) -> dict:
    """The webhook body the gateway sends for one request (its event id is stable across retries)."""
    status = "succeeded" if row.approved else "failed"
    data = {"gateway_id": row.id, "operation": row.operation, "status": status,
            "amount_cents": row.amount_cents, "currency": row.currency, "failure_reason": row.decline_reason}
    data["refund_id" if row.operation == "refund" else "transaction_id"] = row.reference
    return {"event_id": "evt_" + row.id, "type": f"{row.operation}.{status}",
            "created_at": row.created_at.isoformat(), "data": data}


def unanswered_before(cutoff, limit: int = 500) -> list[str]:
    return list(db.session.scalars(select(MockGatewayRequest.id)
                                   .where(MockGatewayRequest.answered_at.is_(None),
                                          MockGatewayRequest.created_at < cutoff)
                                   .order_by(MockGatewayRequest.created_at).limit(limit)))


def send_answer(request_id: str) -> str:
    """The job behind schedule_answer: POST the signed result of one request to our own service."""
    row = db.session.get(MockGatewayRequest, request_id)
    if row is None or row.answered_at is not None:
        db.session.rollback()
        return "skipped"
    body = encode(answer_event(row))
    db.session.rollback()  # hold no row while our own service handles the webhook
    response = signed_post(_settings().payment_service_url + "/v1/webhooks/gateway", body)
    if _retried(response.status_code):
        raise RuntimeError(f"gateway webhook answered HTTP {response.status_code}; retrying")
    if response.status_code >= 400:
        log.warning("gateway webhook for %s refused with HTTP %s; not retried", request_id, response.status_code)
    _mark_answered([request_id])
    return f"HTTP {response.status_code}"


def send_answers(request_ids: list[str]) -> dict:
    """The job behind schedule_answers: POST the signed results of several requests in one call; counts.

    The call failing (5xx, 401, 409, 429, no connection) raises: RQ retries the job (ANSWER_RETRY). An event
    whose own status asks for a retry, or that has no result (the whole call refused), is sent again alone
    through send_answer, whose rules then apply to it."""
    rows = db.session.scalars(select(MockGatewayRequest).where(MockGatewayRequest.id.in_(request_ids),
                                                               MockGatewayRequest.answered_at.is_(None))
                              .order_by(MockGatewayRequest.created_at, MockGatewayRequest.id)).all()
    if not rows:
        db.session.rollback()
        return {"skipped": len(request_ids)}
    bodies = [answer_event(row) for row in rows]
    ids = [row.id for row in rows]
    db.session.rollback()  # hold no row while our own service handles the webhook
    response = signed_post(_settings().payment_service_url + "/v1/webhooks/gateway/batch", encode({"events": bodies}))
    if _retried(response.status_code):
        raise RuntimeError(f"gateway batch webhook answered HTTP {response.status_code}; retrying")
    statuses = {}
    if response.status_code >= 400:
        log.warning("gateway batch webhook of %s answers refused with HTTP %s; sending them one by one",
                    len(ids), response.status_code)
    else:
        statuses = {str(r.get("event_id")): r.get("status") for r in response.json().get("results", [])}
    answered, retry = [], []
    for body, request_id in zip(bodies, ids):
        status = statuses.get(body["event_id"])
        if not isinstance(status, int) or _retried(status):
            retry.append(request_id)
            continue
        if status >= 400:
            log.warning("gateway answer %s refused with HTTP %s in a batch; not retried", request_id, status)
        answered.append(request_id)
    _mark_answered(answered)
    for request_id in retry:
        enqueue_after_commit(WEBHOOKS, "payment_app.gateway.send_answer", request_id,
                             delay=ANSWER_RETRY.intervals[0], retry=ANSWER_RETRY)
    return {k: v for k, v in (("answered", len(answered)), ("retry", len(retry))) if v}


def _retried(status: int) -> bool:
    """An answer our service did not take for a reason that may pass: a real gateway sends it again."""
    return status >= 500 or status in (401, 409, 429)


def _mark_answered(request_ids: list[str]) -> None:
    if request_ids:
        db.session.execute(MockGatewayRequest.__table__.update().where(MockGatewayRequest.id.in_(request_ids))
                           .values(answered_at=datetime.now(timezone.utc)))
    db.session.commit()


def status_by_key(idempotency_key: str) -> dict | None:
    """The gateway's record of the request sent with this key, as its webhook would report it (a PSP's
    status query); None if the gateway never saw that key."""
    row = db.session.scalar(select(MockGatewayRequest)
                            .where(MockGatewayRequest.idempotency_key == idempotency_key))
    return answer_event(row) if row is not None else None
