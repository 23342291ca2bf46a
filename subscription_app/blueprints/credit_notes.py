"""/v1/credit-notes: the user's credit notes (one per refund of an invoice's payment). Owner-only."""
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from core.pagination import ListArgsSchema
from subscription_app.accounts import current_user_id
from subscription_app.billing import credit_notes
from subscription_app.billing.schemas import CreditNotePageSchema, CreditNoteSchema

blp = Blueprint("credit_notes", __name__, url_prefix="/v1/credit-notes",
                description="Credit notes of the authenticated user")
BEARER = [{"bearerAuth": []}]


@blp.route("")
@jwt_required()
@blp.doc(security=BEARER)
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, CreditNotePageSchema)
def list_credit_notes(args):
    """The user's credit notes, newest first, with their lines."""
    return credit_notes.list_credit_notes(current_user_id(), args)


@blp.route("/<uuid:credit_note_id>")
@jwt_required()
@blp.doc(security=BEARER)
@blp.response(200, CreditNoteSchema)
@blp.alt_response(404, description="Unknown credit note, or another user's")
def get_credit_note(credit_note_id: uuid.UUID):
    """One credit note: its number, amount, reason, lines, invoice and refund."""
    return credit_notes.owned_credit_note(current_user_id(), credit_note_id)
