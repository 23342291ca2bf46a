"""Apply the gateway's answers (POST /v1/webhooks/gateway) to transactions and refunds.

Body: {"event_id", "type": "<operation>.<succeeded|failed>", "created_at",
       "data": {"operation": "charge"|"authorise"|"void"|"refund", "status", "gateway_id",
                "transaction_id" | "refund_id", "amount_cents", "currency", "failure_reason"}}

The event id is claimed in the inbox in the same transaction as the effect, so a
redelivery is acknowledged and changes nothing. Rows are locked (transaction first,
then refund: the order refunds.request_refund uses) while the outcome is applied.
"""
from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from core import inbox
from core.errors import ApiError
from core.extensions import db
from core.queues import PAYMENTS, enqueue_after_commit
from payment_app import events
from payment_app.models import PaymentInbox, Refund, Transaction

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
    db.session.rollback()  # the inbox claim goes too: a later delivery may find the row
    log.warning("gateway webhook for unknown %s %r", what, ident)
    return ApiError(404, f"Unknown {what}")


def apply_event(envelope: dict) -> dict:
    """Apply one gateway event; returns the response body. Raises ApiError(404) for an unknown row."""
    event_id, event_type = envelope["event_id"], envelope.get("type")
    if not inbox.claim(PaymentInbox, event_id, event_type or "untyped"):
        db.session.rollback()
        return {"received": True, "processed": False, "duplicate": True}
    data = envelope.get("data") or {}
    operation = data.get("operation") or (event_type or "").partition(".")[0]
    if not event_type or operation not in OPERATIONS:
        db.session.commit()  # recorded and acknowledged, nothing to apply
        log.info("gateway event %s without a known type recorded", event_id)
        return {"received": True, "processed": False}
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
            db.session.rollback()
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
    db.session.commit()
    return {"received": True, "processed": changed}
