"""/v1/admin/audit: every operator action on the catalog, newest first (admin role only)."""
from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from subscription_app.accounts import require_admin
from subscription_app.catalog import audit
from subscription_app.catalog.schemas import AuditArgsSchema, AuditPageSchema

blp = Blueprint("Admin: audit", __name__, url_prefix="/v1/admin/audit",
                description="The audit log of admin actions (who, what, when, before and after)")


@blp.route("")
@jwt_required()
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(AuditArgsSchema, location="query")
@blp.response(200, AuditPageSchema)
@blp.alt_response(403, description="Admin role required")
def list_audit(args):
    """Audit events, filtered by object when asked (`object_type=plan&object_id=<uuid>`)."""
    require_admin()
    return audit.list_events(args, args.get("object_type"), args.get("object_id"))
