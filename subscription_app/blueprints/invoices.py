"""/v1/invoices: the user's invoices with their line items. Owner-only."""
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from core.pagination import ListArgsSchema
from subscription_app.accounts import current_user_id
from subscription_app.billing import invoices, upcoming
from subscription_app.billing.schemas import InvoicePageSchema, InvoiceSchema, UpcomingInvoiceSchema

blp = Blueprint("invoices", __name__, url_prefix="/v1/invoices", description="Invoices of the authenticated user")
BEARER = [{"bearerAuth": []}]


@blp.route("")
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, InvoicePageSchema)
def list_invoices(args):
    """The user's invoices, newest first, each with its lines."""
    return invoices.list_invoices(current_user_id(), args)


@blp.route("/upcoming")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, UpcomingInvoiceSchema)
@blp.alt_response(404, description="No subscription renews at the end of this period")
def get_upcoming():
    """The next renewal as of now: the plan's next period and this period's usage with its overage."""
    return upcoming.upcoming(current_user_id())


@blp.route("/<uuid:invoice_id>")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, InvoiceSchema)
def get_invoice(invoice_id: uuid.UUID):
    """One invoice with its line items (integer cents, signed: a proration credit is negative)."""
    return invoices.owned_invoice(current_user_id(), invoice_id)
