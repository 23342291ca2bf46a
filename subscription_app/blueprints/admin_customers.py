"""/v1/admin/customers: search customers, one customer's whole picture, and their link fields (admin only)."""
from flask import Response, stream_with_context

from core.extensions import db
from core.idempotency import idempotent
from core.pagination import split_paging
from subscription_app.backoffice import charges, customers, export
from subscription_app.backoffice.schemas import (AdminInvoiceSchema, ChargeSchema, CustomerArgsSchema,
                                                 CustomerDetailSchema, CustomerFilterSchema, CustomerPageSchema,
                                                 CustomerSchema, CustomerUpdateSchema)
from subscription_app.blueprints.admin_blueprint import IDEMPOTENCY, AdminBlueprint, admin_actor
from subscription_app.models import SubscriptionIdempotencyKey

blp = AdminBlueprint("Admin: customers", __name__, url_prefix="/v1/admin/customers",
                     description="Customers: search, detail and the operator's link fields (admin role only; audited)")
LINKS_EXAMPLE = {"external_id": "crm-4711", "metadata": {"crm": "hubspot", "segment": "smb"}}


@blp.route("")
@blp.arguments(CustomerArgsSchema, location="query")
@blp.response(200, CustomerPageSchema)
def list_customers(args):
    """Customers, newest first: `email_prefix`, subscription `status`, `past_due`, `created_from`/`created_to`.

    Cursor pages with `limit` (and `starting_after` = the previous page's `next_cursor`), no count;
    offset pages with `page`/`per_page` (or neither) as before.
    """
    paging, filters = split_paging(args)
    return customers.search(paging, **filters)


@blp.route("/export.csv")
@blp.doc(responses={"200": {"description": "text/csv with a header row, streamed",
                             "content": {"text/csv": {"schema": {"type": "string"}}}}})
@blp.arguments(CustomerFilterSchema, location="query")
def export_customers(args):
    """The customers of the same filters as the list, as CSV, oldest first, streamed in batches."""
    return Response(stream_with_context(export.customers_csv(args)), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=customers.csv"})


@blp.route("/<int:customer_id>")
@blp.response(200, CustomerDetailSchema)
@blp.alt_response(404, description="No such customer")
def get_customer(customer_id: int):
    """Profile, subscription history, invoices, credit notes and audit trail (up to 50 of each, newest first)."""
    return customers.detail(customer_id)


@blp.route("/<int:customer_id>", methods=["PATCH"])
@blp.arguments(CustomerUpdateSchema, example=LINKS_EXAMPLE)
@blp.response(200, CustomerSchema)
@blp.alt_response(404, description="No such customer")
def update_customer(data, customer_id: int):
    """Set `external_id` (unique; null clears it) and/or `metadata` (a string map, replaced whole)."""
    user = customers.update_links(customer_id, data, admin_actor())
    db.session.commit()
    return user


@blp.route("/<int:customer_id>/charges", methods=["POST"])
@blp.doc(**IDEMPOTENCY)
@idempotent(SubscriptionIdempotencyKey)
@blp.arguments(ChargeSchema, example={"amount_cents": 5000, "currency": "USD", "reason": "Onboarding session"})
@blp.response(201, AdminInvoiceSchema)
@blp.alt_response(409, description="The customer has no saved card")
def charge_customer(data, customer_id: int):
    """A one-off charge of the customer's saved card: an open `manual` invoice, paid when the charge succeeds."""
    return charges.charge(customer_id, data["amount_cents"], data["currency"], data["reason"],
                          admin_actor())
