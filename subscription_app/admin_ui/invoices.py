"""Invoices: list with a status filter, one invoice, void, uncollectible, credit notes with or without a refund.

Void, uncollectible and a credit note without a refund (to the customer balance) are
backoffice/invoices_admin.py's, as the admin API's. The refund is the payment service's
(POST /v1/payments/refund/{txn} with the service token); its credit note appears here when
its refund.succeeded event arrives (docs/refunds.md).
"""
from __future__ import annotations

import re
import uuid

import requests
from flask import abort, current_app, flash, redirect, request, url_for
from sqlalchemy import select

from core import http
from core.errors import ApiError
from core.extensions import db
from core.money import format_money
from subscription_app.admin_ui.forms import CreditNoteForm, RefundForm, UncollectibleForm, VoidForm
from subscription_app.admin_ui.views import actor, attach_errors, bp, form_idempotent, page, submitted
from subscription_app.backoffice import invoices_admin
from subscription_app.catalog import audit
from subscription_app.models import CreditNote, Invoice, User

STATUSES = ("open", "paid", "void", "uncollectible")
LIMIT = 100


@bp.route("/invoices")
def invoice_list():
    status = request.args.get("status", "")
    stmt = (select(Invoice, User.email).join(User, User.id == Invoice.user_id)
            .order_by(Invoice.number.desc()).limit(LIMIT))
    if status in STATUSES:
        stmt = stmt.where(Invoice.status == status)
    return page("invoices.html", rows=db.session.execute(stmt).all(), status=status, statuses=STATUSES)


def _invoice(invoice_id: uuid.UUID) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return invoice


def _detail(invoice: Invoice, form: RefundForm | None = None, status: int = 200, forms: dict | None = None):
    notes = db.session.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice.id)
                               .order_by(CreditNote.number)).all()
    forms = forms or {}
    return page("invoice.html", status, invoice=invoice, customer=db.session.get(User, invoice.user_id),
                credit_notes=notes, form=form or RefundForm(), idempotency_key=uuid.uuid4().hex,
                creditable=invoices_admin.creditable_cents(invoice) if invoice.status == "paid" else 0,
                void_form=forms.get("void") or VoidForm(),
                uncollectible_form=forms.get("uncollectible") or UncollectibleForm(),
                credit_form=forms.get("credit") or CreditNoteForm())  # forms: by their PREFIX


@bp.route("/invoices/<uuid:invoice_id>")
def invoice_detail(invoice_id: uuid.UUID):
    return _detail(_invoice(invoice_id))


def _body(form: RefundForm) -> dict:
    body = {"keep_subscription": bool(form.keep_subscription.data)}
    if form.amount_cents.data is not None:
        body["amount_cents"] = form.amount_cents.data
    if form.reason.data:
        body["reason"] = form.reason.data
    return body


def _ask_refund(invoice: Invoice, body: dict) -> dict:
    """The payment service's 202 answer, or its refusal as an ApiError of the same status."""
    key = request.form.get("idempotency_key", "")
    headers = {"Idempotency-Key": f"admin-ui-{key}"} if re.fullmatch(r"[0-9a-f]{32}", key) else {}
    url = f"{current_app.config['SETTINGS'].payment_service_url}/v1/payments/refund/{invoice.transaction_id}"
    try:
        answer = http.service_request("POST", url, json_body=body, extra_headers=headers)
    except requests.RequestException:
        raise ApiError(503, "The payment service did not answer; nothing was refunded.") from None
    if answer.status_code != 202:
        error = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
        raise ApiError(answer.status_code if answer.status_code < 500 else 503,
                       error.get("message", "The payment service refused the refund."), errors=error.get("errors"))
    return answer.json()


@bp.route("/invoices/<uuid:invoice_id>/refund", methods=["POST"])
def invoice_refund(invoice_id: uuid.UUID):
    invoice, form = _invoice(invoice_id), RefundForm()
    if not form.validate_on_submit():
        return _detail(invoice, form, 422)
    try:
        if invoice.transaction_id is None or invoice.amount_paid_cents <= 0:
            raise ApiError(409, "This invoice has no payment to refund.")
        refund = _ask_refund(invoice, _body(form))
    except ApiError as exc:
        attach_errors(form, exc)
        return _detail(_invoice(invoice_id), form, exc.code)
    audit.record(actor(), "invoice.refund_requested", "invoice", invoice.id, None, refund)
    db.session.commit()
    flash(f"Refund {refund.get('id')} requested ({refund.get('status')}); the credit note follows its success.")
    return redirect(url_for("admin_ui.invoice_detail", invoice_id=invoice_id))


def _void(invoice_id: uuid.UUID, form: VoidForm) -> str:
    return f"Invoice #{invoices_admin.void(invoice_id, actor()).number} is void."


def _uncollectible(invoice_id: uuid.UUID, form: UncollectibleForm) -> str:
    return f"Invoice #{invoices_admin.mark_uncollectible(invoice_id, actor()).number} is uncollectible."


def _credit(invoice_id: uuid.UUID, form: CreditNoteForm) -> str:
    note = invoices_admin.credit_note(invoice_id, form.amount_cents.data, form.reason.data, actor())
    return f"Credit note {note.display_number} of {format_money(note.amount_cents, note.currency)} " \
           "added to the customer's credit balance."


def _action_view(form_class, action):
    """A POST of one of the invoice page's money forms, under the form's idempotency key."""
    def view(invoice_id: uuid.UUID):
        _invoice(invoice_id)
        return submitted(form_class(), lambda form: action(invoice_id, form),
                         lambda form, code: _detail(_invoice(invoice_id), status=code, forms={form_class.PREFIX: form}),
                         url_for("admin_ui.invoice_detail", invoice_id=invoice_id))
    return form_idempotent(view)


for _path, _endpoint, _form, _action in (("void", "invoice_void", VoidForm, _void),
                                          ("uncollectible", "invoice_uncollectible", UncollectibleForm, _uncollectible),
                                          ("credit-note", "invoice_credit_note", CreditNoteForm, _credit)):
    bp.add_url_rule(f"/invoices/<uuid:invoice_id>/{_path}", _endpoint, _action_view(_form, _action), methods=["POST"])
