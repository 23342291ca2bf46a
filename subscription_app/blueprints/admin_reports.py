"""/v1/admin/reports: the revenue summary, as JSON or CSV (admin role only)."""
from flask import Response
from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from subscription_app.accounts import require_admin
from subscription_app.backoffice import export, reports
from subscription_app.backoffice.schemas import SummarySchema

blp = Blueprint("Admin: reports", __name__, url_prefix="/v1/admin/reports",
                description="Revenue: MRR, subscribers, movement, collected and refunded, outstanding (admin only)")
ADMIN = {"security": [{"bearerAuth": []}]}


@blp.route("/summary")
@jwt_required()
@blp.doc(**ADMIN)
@blp.response(200, SummarySchema)
@blp.alt_response(403, description="Admin role required")
def summary():
    """Every figure in integer minor units per currency; MRR normalised to a month (docs/backoffice.md)."""
    require_admin()
    return reports.summary()


@blp.route("/summary.csv")
@jwt_required()
@blp.doc(**ADMIN, responses={"200": {"description": "text/csv: section,key,currency,value",
                                     "content": {"text/csv": {"schema": {"type": "string"}}}}})
@blp.alt_response(403, description="Admin role required")
def summary_csv():
    """The same summary, one figure a row."""
    require_admin()
    return Response(export.summary_csv(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=summary.csv"})
