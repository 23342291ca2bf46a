"""/v1/admin/invoices/{id}/credit-notes: credit to the customer balance without a refund (admin only, audited)."""
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from core.extensions import db
from subscription_app.accounts import require_admin
from subscription_app.billing import credit_notes
from subscription_app.billing.schemas import CreditNoteSchema
from subscription_app.catalog.audit import Actor
from subscription_app.discounts.schemas import CreditNoteCreateSchema

blp = Blueprint("Admin: credit notes", __name__, url_prefix="/v1/admin/invoices",
                description="Credit notes to the customer balance (admin role only; audited)")


@blp.route("/<uuid:invoice_id>/credit-notes", methods=["POST"])
@jwt_required()
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(CreditNoteCreateSchema, example={"amount_cents": 1000, "reason": "Outage on 2026-11-30",
                                                "refund": False})
@blp.response(201, CreditNoteSchema)
@blp.alt_response(403, description="Admin role required")
@blp.alt_response(404, description="Unknown invoice")
def create_credit_note(data, invoice_id: uuid.UUID):
    """A credit note whose amount goes to the customer's balance (paid to the next invoices), no refund."""
    actor = Actor(require_admin().id, "api")
    note = credit_notes.credit_to_balance(invoice_id, data["amount_cents"], data["reason"], actor)
    db.session.commit()
    return note
