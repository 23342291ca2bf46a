"""/v1/admin/invoices: every invoice with filters, CSV export, void, uncollectible, credit note (admin only).

Money actions take an Idempotency-Key; its decorator commits the action with the stored answer.
"""
import uuid

from flask import Response

from core.idempotency import idempotent
from subscription_app.backoffice import export, invoices_admin
from subscription_app.backoffice.schemas import (AdminInvoicePageSchema, AdminInvoiceSchema, CreditNoteRequestSchema,
                                                 InvoiceArgsSchema, InvoiceFilterSchema, RefundRequestedSchema)
from subscription_app.billing.schemas import CreditNoteSchema
from subscription_app.blueprints.admin_blueprint import IDEMPOTENCY, AdminBlueprint, admin_actor
from subscription_app.models import SubscriptionIdempotencyKey

blp = AdminBlueprint("Admin: invoices", __name__, url_prefix="/v1/admin/invoices",
                     description="All invoices, and the operator's invoice actions (admin role only; audited)")


def _filters(args: dict) -> dict:
    return {k: v for k, v in args.items() if k not in ("page", "per_page")}


@blp.route("")
@blp.arguments(InvoiceArgsSchema, location="query")
@blp.response(200, AdminInvoicePageSchema)
def list_invoices(args):
    """Every invoice, newest first: `status`, `customer_id`, `reason`, created in [`period_from`, `period_to`)."""
    return invoices_admin.list_all(args["page"], args["per_page"], **_filters(args))


@blp.route("/export.csv")
@blp.doc(responses={"200": {"description": "text/csv with a header row",
                             "content": {"text/csv": {"schema": {"type": "string"}}}}})
@blp.arguments(InvoiceFilterSchema, location="query")
def export_invoices(args):
    """The invoices of the same filters as CSV, oldest first, money in minor units."""
    return Response(export.invoices_csv(args), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=invoices.csv"})


@blp.route("/<uuid:invoice_id>/void", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.response(200, AdminInvoiceSchema)
@blp.alt_response(409, description="The invoice is not open")
def void_invoice(invoice_id: uuid.UUID):
    """Void an open invoice: the customer no longer owes it."""
    return invoices_admin.void(invoice_id, admin_actor())


@blp.route("/<uuid:invoice_id>/mark-uncollectible", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.response(200, AdminInvoiceSchema)
@blp.alt_response(409, description="The invoice is not open")
def mark_uncollectible(invoice_id: uuid.UUID):
    """Stop collecting an open invoice; it stays on the books as uncollectible."""
    return invoices_admin.mark_uncollectible(invoice_id, admin_actor())


@blp.route("/<uuid:invoice_id>/credit-notes", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(CreditNoteRequestSchema, example={"amount_cents": 500, "reason": "Service outage on 2026-11-30"})
@blp.response(201, CreditNoteSchema)
@blp.alt_response(409, description="The invoice is not paid")
def credit_invoice(data, invoice_id: uuid.UUID):
    """A credit note without a refund on a paid invoice (full when `amount_cents` is left out)."""
    return invoices_admin.credit_note(invoice_id, data.get("amount_cents"), data["reason"], admin_actor())


@blp.route("/<uuid:invoice_id>/refunds", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(CreditNoteRequestSchema, example={"amount_cents": 500, "reason": "Goodwill"})
@blp.response(202, RefundRequestedSchema)
@blp.alt_response(409, description="The invoice is not paid")
def refund_invoice(data, invoice_id: uuid.UUID):
    """Refund (part of) the payment of a paid invoice; its credit note follows when the refund succeeds."""
    return invoices_admin.refund(invoice_id, data.get("amount_cents"), data["reason"], admin_actor())
