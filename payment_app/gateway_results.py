"""Apply the gateway's answers (POST /v1/webhooks/gateway) to transactions and refunds.

Body: {"event_id", "type": "<operation>.<succeeded|failed>", "created_at",
       "data": {"operation": "charge"|"authorise"|"void"|"refund", "status", "gateway_id",
                "transaction_id" | "refund_id", "amount_cents", "currency", "failure_reason"}}

The event id is claimed in the inbox in the same transaction as the effect, so a
redelivery is acknowledged and changes nothing. Rows are locked (transaction first,
then refund: the order refunds.request_refund uses) while the outcome is applied.

POST /v1/webhooks/gateway/batch carries several events ({"events": [...]}, the answers of one bill-run
batch due at the same second): apply_events applies them in one transaction, each in its own SAVEPOINT,
so one event's refusal is its own result and the outcome events they write leave in one outbox delivery.
"""
from __future__ import annotations

import logging
import uuid

from marshmallow import ValidationError
from sqlalchemy import select

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
    try:
        answer = _apply(envelope)
    except ApiError:
        db.session.rollback()
        raise
    db.session.commit()
    return answer


def apply_events(envelopes: list) -> list[dict]:
    """Apply a batch of gateway events in one transaction; one result per event, in order.

    `status` is what POST /v1/webhooks/gateway would have answered for that event (200, 404, 422): an
    event refused is rolled back to its SAVEPOINT alone, and its sender retries only that one."""
    results, schema = [], GatewayEventSchema()  # one instance for the batch: building one copies its fields
    for envelope in envelopes:
        event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
        try:
            loaded = schema.load(envelope)
        except ValidationError as exc:
            results.append({"event_id": event_id, "status": 422, "errors": exc.messages})
            continue
        try:
            with db.session.begin_nested():
                answer = _apply(loaded)
        except ApiError as exc:
            results.append({"event_id": event_id, "status": exc.code, "message": exc.message})
            continue
        results.append({"event_id": event_id, "status": 200, **answer})
    db.session.commit()
    return results


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
