"""Service-to-service endpoints, protected by SERVICE_TO_SERVICE_SECRET (never a user token)."""
import uuid

from core.blueprint import Blueprint
from core.errors import ApiError
from core.extensions import db
from core.security import service_auth_required
from subscription_app import summaries
from subscription_app.billing import invoices
from subscription_app.billing.schemas import InternalInvoiceSchema
from subscription_app.models import Invoice, User
from subscription_app.schemas import TokenVersionSchema, UserSummarySchema

blp = Blueprint("internal", __name__, url_prefix="/v1/subscriptions/internal",
                description="Internal endpoints for other services (X-Service-Token)")
SERVICE = [{"serviceToken": []}]


@blp.route("/user/<int:user_id>")
@service_auth_required
@blp.doc(security=SERVICE)
@blp.alt_response(200, schema=UserSummarySchema, description="The user and their live subscription, or null")
@blp.alt_response(404, description="Unknown user")
def user_summary(user_id: int):
    """A user's current subscription summary, for the payment service."""
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "User not found")
    return summaries.user_summary(user)


@blp.route("/user/<int:user_id>/token-version")
@service_auth_required
@blp.doc(security=SERVICE)
@blp.alt_response(200, schema=TokenVersionSchema, description="The user's token version and whether it is active")
@blp.alt_response(404, description="Unknown user")
def user_token_version(user_id: int):
    """The user's token version and state: the durable source of the payment service's revocation check."""
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "User not found")
    return {"user_id": user.id, "token_version": user.token_version, "is_active": user.is_active}


@blp.route("/invoices/<uuid:invoice_id>")
@service_auth_required
@blp.doc(security=SERVICE)
@blp.alt_response(200, schema=InternalInvoiceSchema, description="The invoice")
@blp.alt_response(404, description="Unknown invoice")
def invoice_summary(invoice_id: uuid.UUID):
    """What the payment service needs to charge an invoice: owner, status, amounts, currency."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise ApiError(404, "Invoice not found")
    return invoices.internal_view(invoice)
