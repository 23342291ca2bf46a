"""Charges: from a user's request (/process) or the subscription service's charge.requested event.

A transaction is committed `pending`, and the charge job is enqueued once that commit
happened (core.queues.enqueue_after_commit); the job asks the gateway, whose answer arrives
later by webhook (payment_app/gateway_results.py). If Redis refuses or loses the job,
payment_app.resubmit.resubmit_stuck finds the pending transaction again.

An invoice is charged at most once: new charges of one invoice are decided one at a time under
a PostgreSQL advisory lock, and the unique index uq_transactions_one_live_charge_per_invoice
refuses a second pending or paid charge (docs/guarantees.md).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import NamedTuple

import requests
from flask import current_app
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from core.errors import ApiError
from core.extensions import db
from core.http import service_request
from core.queues import PAYMENTS, enqueue_after_commit
from core.pagination import list_page
from payment_app import gateway
from core.cards import Card
from payment_app.models import PaymentMethod, Transaction
from payment_app.reconcile import gateway_key

log = logging.getLogger(__name__)
PAID_STATUSES = ("succeeded", "partially_refunded", "refunded")
INVOICE_LOCK_NAMESPACE = 0x696E7663  # "invc": the first key of pg_advisory_xact_lock(int, int)


def _settings():
    return current_app.config["SETTINGS"]


# --- payment methods -----------------------------------------------------------------------------

class SavedMethod(NamedTuple):
    """A new payment method's answer: read before the commit, which would expire the row and cost a re-read."""
    id: uuid.UUID
    user_id: int
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: datetime


def save_payment_method(user_id: int, card: Card) -> SavedMethod:
    """Tokenise at the gateway and keep only brand, last4, expiry and the token."""
    method = _new_payment_method(user_id, card)
    db.session.flush()  # created_at comes back with the INSERT
    answer = SavedMethod(method.id, method.user_id, method.brand, method.last4, method.exp_month, method.exp_year,
                         method.created_at)
    db.session.commit()
    return answer


def _new_payment_method(user_id: int, card: Card) -> PaymentMethod:
    token = gateway.tokenise(card)  # commits the gateway's vault row on its own, like a remote call
    method = PaymentMethod(user_id=user_id, brand=card.brand, last4=card.last4, exp_month=card.exp_month,
                           exp_year=card.exp_year, gateway_token=token)
    db.session.add(method)
    return method


def owned_payment_method(user_id: int, method_id) -> PaymentMethod:
    method = db.session.get(PaymentMethod, method_id)
    if method is None or method.user_id != user_id:
        raise ApiError(404, "Payment method not found")
    return method


# --- the subscription service's invoices ------------------------------------------------------------

def fetch_invoice(invoice_id: uuid.UUID) -> dict | None:
    """The invoice as the subscription service sees it; None if unknown; 503 if that service is down."""
    url = f"{_settings().subscription_service_url}/v1/subscriptions/internal/invoices/{invoice_id}"
    try:
        response = service_request("GET", url)
    except requests.RequestException as exc:
        log.warning("subscription service unreachable for invoice lookup: %s", exc.__class__.__name__)
        raise ApiError(503, "Subscription service unavailable, try again shortly",
                       headers={"Retry-After": "5"}) from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        log.warning("invoice lookup answered HTTP %s", response.status_code)
        raise ApiError(503, "Subscription service unavailable, try again shortly", headers={"Retry-After": "5"})
    return response.json()


def _invoice_charge(user_id: int, invoice_id: uuid.UUID) -> dict:
    invoice = fetch_invoice(invoice_id)
    if invoice is None or int(invoice.get("user_id", -1)) != user_id:
        raise ApiError(404, "Invoice not found")
    if invoice.get("status") != "open":
        raise ApiError(409, f"Invoice is {invoice.get('status')}, not open")
    _refuse_if_held(invoice_id)  # early answer, before the card is tokenised; decided again under the lock
    amount = int(invoice["amount_due_cents"]) - int(invoice.get("amount_paid_cents") or 0)
    if amount <= 0:
        raise ApiError(409, "Invoice has nothing left to pay")
    try:
        subscription_id = uuid.UUID(str(invoice["subscription_id"])) if invoice.get("subscription_id") else None
    except ValueError:
        subscription_id = None
    return {"invoice_id": invoice_id, "subscription_id": subscription_id, "amount_cents": amount,
            "currency": invoice["currency"], "description": f"Invoice {invoice_id}"}


# --- creating charges ----------------------------------------------------------------------------

def process_payment(user_id: int, data: dict) -> Transaction:
    """POST /v1/payments/process: an invoice payment or a one-off charge, answered `pending`.

    Flushed, not committed: the caller commits (core.idempotency, with the stored answer in the
    same transaction), and the charge job is enqueued only once that commit succeeds.
    """
    if data.get("invoice_id"):
        charge = _invoice_charge(user_id, data["invoice_id"])
    else:
        charge = {"amount_cents": data["amount_cents"], "currency": data["currency"],
                  "description": data.get("description")}
    if data.get("payment_method_id"):
        method = owned_payment_method(user_id, data["payment_method_id"])
    else:
        method = _new_payment_method(user_id, data["card"])
    txn = Transaction(id=uuid.uuid4(), user_id=user_id, kind="charge", status="pending", payment_method=method,
                      card_brand=method.brand, card_last4=method.last4, **charge)
    if txn.invoice_id is not None:
        lock_invoice(txn.invoice_id)
        _refuse_if_held(txn.invoice_id)
    db.session.add(txn)
    submit_after_commit(txn)
    try:
        db.session.flush()
    except IntegrityError:  # uq_transactions_one_live_charge_per_invoice, should the lock be bypassed
        db.session.rollback()
        raise ApiError(409, "A payment for this invoice is already in progress") from None
    return txn


def lock_invoice(invoice_id) -> None:
    """Charges of one invoice are decided one at a time, until this transaction ends."""
    db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:invoice))"),
                       {"ns": INVOICE_LOCK_NAMESPACE, "invoice": str(invoice_id)})


def _refuse_if_held(invoice_id) -> None:
    """409 if a charge of this invoice is in flight or paid (a refunded one too: invoices never reopen)."""
    statuses = set(db.session.scalars(select(Transaction.status).where(
        Transaction.invoice_id == invoice_id, Transaction.status.in_(("pending",) + PAID_STATUSES))))
    if statuses - {"pending"}:
        db.session.rollback()
        raise ApiError(409, "Invoice is already paid")
    if statuses:
        db.session.rollback()
        raise ApiError(409, "A payment for this invoice is already in progress")


def submit_after_commit(txn: Transaction) -> None:
    enqueue_after_commit(PAYMENTS, "payment_app.payments.submit_to_gateway", str(txn.id))


# --- the charge job's work -------------------------------------------------------------------------

def _pending_charges(txn_ids: list[str]) -> dict:
    """What the gateway needs of each transaction, by id (one read); nothing of ours stays open."""
    rows = db.session.execute(
        select(Transaction.id, Transaction.status, Transaction.kind, Transaction.amount_cents, Transaction.currency,
               PaymentMethod.gateway_token)
        .join(PaymentMethod, PaymentMethod.id == Transaction.payment_method_id)
        .where(Transaction.id.in_([uuid.UUID(i) for i in txn_ids]))).all()
    db.session.rollback()  # nothing of ours is open while the gateway commits its ledger
    return {str(row.id): row for row in rows}


def _send(row, txn_id: str, batch: list[str] | None) -> str:
    op = gateway.authorise if row.kind == "verify" else gateway.charge
    return op(token=row.gateway_token, amount_cents=row.amount_cents, currency=row.currency,
              idempotency_key=gateway_key("charge", txn_id), reference=txn_id, batch=batch)


def _record_references(sent: list[dict]) -> None:
    """The gateway's ids on their transactions, one statement for all (a reference already there stays)."""
    if sent:
        table = Transaction.__table__
        db.session.execute(table.update().where(table.c.id == bindparam("txn"), table.c.gateway_reference.is_(None))
                           .values(gateway_reference=bindparam("reference")), sent)
    db.session.commit()


def submit_to_gateway(txn_id: str) -> str | None:
    """Send a pending transaction to the gateway (same idempotency key every time); returns the gateway id."""
    row = _pending_charges([txn_id]).get(txn_id)
    if row is None or row.status != "pending":
        return None
    gateway_id = _send(row, txn_id, None)
    _record_references([{"txn": uuid.UUID(txn_id), "reference": gateway_id}])
    log.info("%s %s sent to the gateway as %s", row.kind, txn_id, gateway_id)
    return gateway_id


def submit_many(txn_ids: list[str]) -> int:
    """The job for a batch of charges: each sent as submit_to_gateway sends it (read together, their
    references written together), their answers scheduled together; how many went.

    A transaction settled since the read is sent again under its key: the gateway answers with the request it
    has and schedules no second answer."""
    sent, batch = [], []
    try:
        rows = _pending_charges(txn_ids)
        for txn_id in txn_ids:
            row = rows.get(txn_id)
            if row is None or row.status != "pending":
                continue
            try:
                sent.append({"txn": uuid.UUID(txn_id), "reference": _send(row, txn_id, batch)})
                log.info("%s %s sent to the gateway as %s", row.kind, txn_id, sent[-1]["reference"])
            except Exception:  # noqa: BLE001 - one charge must not hold back the others; the sweep resends it
                db.session.rollback()
                log.exception("charge %s not sent to the gateway; payment_app.resubmit will send it", txn_id)
        _record_references(sent)
    finally:
        gateway.schedule_answers(batch)  # the ones sent, even if this job is stopped half way
    return len(sent)


def void_verification(txn_id: str) -> str | None:
    """Release a verification's zero-amount authorisation."""
    txn = db.session.get(Transaction, uuid.UUID(txn_id))
    if txn is None or txn.kind != "verify" or txn.status != "succeeded" or not txn.gateway_reference:
        db.session.rollback()
        return None
    auth_id = txn.gateway_reference
    db.session.rollback()
    return gateway.void(authorisation_id=auth_id, idempotency_key=f"void:{txn_id}", reference=txn_id)


# --- reading -------------------------------------------------------------------------------------

def get_transaction(user_id: int, txn_id) -> Transaction:
    txn = db.session.get(Transaction, txn_id)
    if txn is None or txn.user_id != user_id:
        raise ApiError(404, "Transaction not found")
    return txn


def list_transactions(user_id: int, args: dict) -> dict:
    stmt = select(Transaction).where(Transaction.user_id == user_id).options(selectinload(Transaction.refunds))
    return list_page(stmt, [Transaction.created_at, Transaction.id], args)
