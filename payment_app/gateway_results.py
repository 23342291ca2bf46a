"""Apply the gateway's answers (POST /v1/webhooks/gateway) to transactions and refunds.

Body: {"event_id", "type": "<operation>.<succeeded|failed>", "created_at",
       "data": {"operation": "charge"|"authorise"|"void"|"refund", "status", "gateway_id",
                "transaction_id" | "refund_id", "amount_cents", "currency", "failure_reason"}}

The event id is claimed in the inbox in the same transaction as the effect, so a
redelivery is acknowledged and changes nothing. Rows are locked (transaction first,
then refund: the order refunds.request_refund uses) while the outcome is applied.

POST /v1/webhooks/gateway/batch carries several events ({"events": [...]}, the answers of one bill-run
batch due at the same second): apply_events applies them in one transaction, each in its own SAVEPOINT,
so one event's refusal is its own result and the outcome events they write leave in one outbox delivery;
it takes the whole batch's locks first, each kind in id order (no deadlock between overlapping batches).
"""
from __future__ import annotations

import logging
import uuid

from marshmallow import ValidationError
from sqlalchemy import or_, select

from core import inbox
from core.errors import ApiError
from core.extensions import db
from core.queues import PAYMENTS, enqueue_after_commit
from payment_app import events
from payment_app.models import PaymentInbox, Refund, Transaction
from payment_app.schemas import GatewayEventSchema

log = logging.getLogger(__name__)
OPERATIONS = ("charge", "authorise", "void", "refund")


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _lock_transaction(txn_id) -> Transaction | None:
    ident = _uuid(txn_id)
    if ident is None:
        return None
    return db.session.scalar(select(Transaction).where(Transaction.id == ident).with_for_update())


def _not_found(what: str, ident) -> ApiError:
    # The caller rolls the inbox claim back too: a later delivery may find the row.
    log.warning("gateway webhook for unknown %s %r", what, ident)
    return ApiError(404, f"Unknown {what}")


def apply_event(envelope: dict) -> dict:
    """Apply one gateway event; returns the response body. Raises ApiError(404) for an unknown row."""
    return inbox.apply_committed(_apply, envelope)


def apply_events(envelopes: list) -> list[dict]:
    """Apply a batch of gateway events in one transaction; one result per event, in order.

    `status` is what POST /v1/webhooks/gateway would have answered for that event (200, 404, 422): an
    event refused is rolled back to its SAVEPOINT alone, and its sender retries only that one."""
    schema = GatewayEventSchema()  # one instance for the batch: building one copies its fields
    loaded = []
    for envelope in envelopes:
        try:
            loaded.append(schema.load(envelope))
        except ValidationError as exc:
            loaded.append(exc)
    _lock_ahead([e for e in loaded if isinstance(e, dict)])
    results = [_apply_in_savepoint(envelope, e) for envelope, e in zip(envelopes, loaded)]
    db.session.commit()
    return results


def _apply_in_savepoint(envelope, loaded) -> dict:
    event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
    if isinstance(loaded, ValidationError):
        return {"event_id": event_id, "status": 422, "errors": loaded.messages}
    try:
        with db.session.begin_nested():
            answer = _apply(loaded)
    except ApiError as exc:
        return {"event_id": event_id, "status": exc.code, "message": exc.message}
    return {"event_id": event_id, "status": 200, **answer}


def _lock_ahead(envelopes: list[dict]) -> None:
    """Take the batch's locks before any event's: its transactions, then its refunds (the order _apply and
    refunds.request_refund use), then its event ids, each kind in id order, so two batches holding some of
    the same rows or events in other orders queue up instead of deadlocking (PostgreSQL aborts one)."""
    data = [e.get("data") or {} for e in envelopes]
    refund_ids = sorted({i for i in (_uuid(d.get("refund_id")) for d in data) if i is not None})
    txn_ids = sorted({i for i in (_uuid(d.get("transaction_id")) for d in data) if i is not None})
    if txn_ids or refund_ids:
        refunded = select(Refund.transaction_id).where(Refund.id.in_(refund_ids))
        db.session.execute(select(Transaction.id).where(or_(Transaction.id.in_(txn_ids), Transaction.id.in_(refunded)))
                           .order_by(Transaction.id).with_for_update(of=Transaction))
    if refund_ids:
        db.session.execute(select(Refund.id).where(Refund.id.in_(refund_ids)).order_by(Refund.id).with_for_update())
    inbox.lock_event_ids(PaymentInbox, [e["event_id"] for e in envelopes])


def _apply(envelope: dict) -> dict:
    """One event's effect in the current transaction, not committed; raises ApiError (the caller rolls back)."""
    event_id, event_type = envelope["event_id"], envelope.get("type")
    if not inbox.claim(PaymentInbox, event_id, event_type or "untyped"):
        return {"received": True, "processed": False, "duplicate": True}
    data = envelope.get("data") or {}
    operation = data.get("operation") or (event_type or "").partition(".")[0]
    if not event_type or operation not in OPERATIONS:
        log.info("gateway event %s without a known type recorded", event_id)
        return {"received": True, "processed": False}  # recorded and acknowledged, nothing to apply
    succeeded = (data.get("status") or event_type.rpartition(".")[2]) == "succeeded"
    # Bounded to their columns: a long value is a gateway quirk, not a reason to answer 500.
    reason = str(data["failure_reason"])[:255] if data.get("failure_reason") else None
    gateway_id = str(data["gateway_id"])[:64] if data.get("gateway_id") else None

    if operation == "refund":
        refund = db.session.get(Refund, _uuid(data.get("refund_id"))) if _uuid(data.get("refund_id")) else None
        if refund is None:
            raise _not_found("refund", data.get("refund_id"))
        txn = _lock_transaction(refund.transaction_id)
        db.session.refresh(refund, with_for_update=True)
        changed = events.settle_refund(refund, txn, succeeded=succeeded, failure_reason=reason,
                                       gateway_reference=gateway_id)
    else:
        txn = _lock_transaction(data.get("transaction_id"))
        if txn is None:
            raise _not_found("transaction", data.get("transaction_id"))
        if operation in ("charge", "authorise") and data.get("amount_cents") not in (None, txn.amount_cents):
            log.error("gateway %s for transaction %s reports %s cents, expected %s", operation, txn.id,
                      data.get("amount_cents"), txn.amount_cents)
            raise ApiError(422, "Amount does not match the transaction")
        if operation == "void":
            changed = events.mark_voided(txn) if succeeded else False
        else:
            changed = events.settle_transaction(txn, succeeded=succeeded, failure_reason=reason,
                                                gateway_reference=gateway_id)
    if changed and operation == "authorise" and succeeded:
        enqueue_after_commit(PAYMENTS, "payment_app.payments.void_verification", str(txn.id))
    return {"received": True, "processed": changed}
