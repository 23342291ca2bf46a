"""/v1/admin/reports: the revenue summary, as JSON or CSV (admin role only)."""
from flask import Response

from subscription_app.backoffice import export, reports
from subscription_app.backoffice.schemas import SummarySchema
from subscription_app.blueprints.admin_blueprint import AdminBlueprint

blp = AdminBlueprint("Admin: reports", __name__, url_prefix="/v1/admin/reports",
                     description="Revenue: MRR, subscribers, movement, collected and refunded, outstanding (admin only)")


@blp.route("/summary")
@blp.response(200, SummarySchema)
def summary():
    """Every figure in integer minor units per currency; MRR normalised to a month (docs/backoffice.md)."""
    return reports.summary()


@blp.route("/summary.csv")
@blp.doc(responses={"200": {"description": "text/csv: section,key,currency,value",
                             "content": {"text/csv": {"schema": {"type": "string"}}}}})
def summary_csv():
    """The same summary, one figure a row."""
    return Response(export.summary_csv(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=summary.csv"})
