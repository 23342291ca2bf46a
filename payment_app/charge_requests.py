"""charge.requested from the subscription service: one event (POST /charges) or a batch (/charges/batch).

Each event is deduped twice, by event_id in the inbox and by data.idempotency_key (unique per user), in the
transaction that creates its charge. A batch is one transaction with a SAVEPOINT per event: it first takes
the advisory locks of all its invoices in the order of their lock keys, so two batches that share
invoices wait for each other instead of deadlocking, and answers once its one commit happened.
"""
from __future__ import annotations

import uuid
from typing import NamedTuple

from marshmallow import ValidationError
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import String

from core import inbox
from core.errors import ApiError
from core.extensions import db
from core.queues import PAYMENTS, enqueue_after_commit
from payment_app import events
from payment_app.models import PaymentInbox, PaymentMethod, Transaction
from payment_app.payments import INVOICE_LOCK_NAMESPACE, PAID_STATUSES, lock_invoice, submit_after_commit
from payment_app.schemas import ChargeRequestedSchema

# One statement for a batch's invoice locks, taken in key order (the same keys as payments.lock_invoice).
_LOCK_IN_ORDER = text("SELECT pg_advisory_xact_lock(:ns, k) FROM (SELECT DISTINCT hashtext(i) AS k "
                      "FROM unnest(:invoices) AS i ORDER BY k) AS keys").bindparams(
    bindparam("invoices", type_=ARRAY(String)))


class Charge(NamedTuple):
    """A charge request's answer: read before the commit, which would expire the row and cost a re-read."""
    id: uuid.UUID
    status: str


def request_charge(envelope: dict) -> tuple[Charge, bool]:
    """One charge.requested event in its own transaction; (its transaction's id and status, created)."""
    data = envelope["data"]
    try:
        answer, txn = _apply(envelope, lock=True)
        if txn is not None and txn.status == "pending":
            submit_after_commit(txn)
        db.session.commit()
    except _Duplicate:
        db.session.rollback()
        return _replayed(data["user_id"], data["idempotency_key"]), False
    except IntegrityError:
        # The same idempotency key under another event id at the same moment (answered with that
        # transaction), or a charge of this invoice in flight (409: the outbox retries later).
        db.session.rollback()
        return _replayed(data["user_id"], data["idempotency_key"]), False
    return answer, txn is not None


def request_charges(envelopes: list[dict]) -> list[dict]:
    """A batch of charge.requested events in one transaction, a SAVEPOINT each; one result per event.

    `status` is what POST /charges would have answered for that event (202, 200, 409, 422). The new pending
    charges go to the gateway in one job once the commit happened: if this process dies before it is
    enqueued, payment_app.resubmit finds them, as when Redis refuses a job."""
    schema, loaded, results = ChargeRequestedSchema(), [], []  # one instance: building one copies its fields
    for envelope in envelopes:
        try:
            loaded.append(schema.load(envelope))
            results.append(None)
        except ValidationError as exc:
            results.append({"event_id": envelope.get("event_id"), "status": 422, "errors": exc.messages})
    invoices = sorted({str(e["data"]["invoice_id"]) for e in loaded if e["data"].get("invoice_id")})
    if invoices:
        db.session.execute(_LOCK_IN_ORDER, {"ns": INVOICE_LOCK_NAMESPACE, "invoices": invoices})
    pending, answers = [], iter(loaded)
    for i, result in enumerate(results):
        if result is None:
            results[i] = _one_of_batch(next(answers), pending)
    db.session.commit()
    if pending:
        enqueue_after_commit(PAYMENTS, "payment_app.payments.submit_many", pending)
    return results


def _one_of_batch(envelope: dict, pending: list[str]) -> dict:
    """One event of a batch in its SAVEPOINT: its result, and its charge's id in `pending` if it is new."""
    data, event_id = envelope["data"], envelope["event_id"]
    try:
        try:
            with db.session.begin_nested():
                answer, txn = _apply(envelope, lock=False)
        except (_Duplicate, IntegrityError):
            answer, txn = _replayed(data["user_id"], data["idempotency_key"]), None
    except ApiError as exc:
        return {"event_id": event_id, "status": exc.code, "message": exc.message}
    if txn is not None and answer.status == "pending":
        pending.append(str(answer.id))
    return {"event_id": event_id, "status": 202 if txn is not None else 200, "transaction_id": answer.id,
            "transaction_status": answer.status}


class _Duplicate(Exception):
    """This event id was received before: nothing of it is kept, and the answer is that charge's."""


def _apply(envelope: dict, lock: bool) -> tuple[Charge, Transaction | None]:
    """The event's effect in the current transaction, not committed: its answer, and its new transaction
    (None when the idempotency key already has one). `lock`: take the invoice's advisory lock here."""
    data = envelope["data"]
    user_id, key = data["user_id"], data["idempotency_key"]
    if not inbox.claim(PaymentInbox, envelope["event_id"], envelope["type"]):
        raise _Duplicate
    existing = _existing_by_key(user_id, key)
    if existing is not None:
        return Charge(existing.id, existing.status), None  # the claim is kept: this event id is answered
    method = db.session.get(PaymentMethod, data["payment_method_id"]) if data.get("payment_method_id") else None
    if method is not None and method.user_id != user_id:
        method = None
    verify = data["kind"] == "verify"
    if lock and data.get("invoice_id"):
        lock_invoice(data["invoice_id"])
    refusal = "payment_method_not_found" if method is None else _already_paid(data.get("invoice_id"))
    txn = Transaction(id=uuid.uuid4(), user_id=user_id, kind=data["kind"], status="pending", idempotency_key=key,
                      amount_cents=0 if verify else data["amount_cents"], currency=data["currency"],
                      invoice_id=data.get("invoice_id"), subscription_id=data.get("subscription_id"),
                      payment_method_id=method.id if method else None,
                      card_brand=method.brand if method else None, card_last4=method.last4 if method else None,
                      description=data.get("description"))
    if refusal:
        # Answer with a failure event rather than an error the outbox would retry for hours. An invoice
        # paid here already (by /process, say) is never charged twice, whatever attempt this is.
        events.settle_transaction(txn, succeeded=False, failure_reason=refusal)
    db.session.add(txn)
    return Charge(txn.id, txn.status), txn


def _existing_by_key(user_id: int, key: str) -> Transaction | None:
    return db.session.scalar(select(Transaction).where(Transaction.user_id == user_id,
                                                       Transaction.idempotency_key == key))


def _already_paid(invoice_id) -> str | None:
    if invoice_id is None:
        return None
    paid = db.session.scalar(select(Transaction.id).where(Transaction.invoice_id == invoice_id,
                                                          Transaction.status.in_(PAID_STATUSES)).limit(1))
    return "invoice_already_paid" if paid is not None else None


def _replayed(user_id: int, key: str) -> Charge:
    txn = _existing_by_key(user_id, key)
    if txn is None:  # the first delivery is still in flight; the outbox will retry
        raise ApiError(409, "This charge request is being processed", headers={"Retry-After": "1"})
    return Charge(txn.id, txn.status)
