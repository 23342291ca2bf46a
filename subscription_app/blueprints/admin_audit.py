"""/v1/admin/audit: every operator action on the catalog, newest first (admin role only)."""
from subscription_app.blueprints.admin_blueprint import AdminBlueprint
from subscription_app.catalog import audit
from subscription_app.catalog.schemas import AuditArgsSchema, AuditPageSchema

blp = AdminBlueprint("Admin: audit", __name__, url_prefix="/v1/admin/audit",
                     description="The audit log of admin actions (who, what, when, before and after)")


@blp.route("")
@blp.arguments(AuditArgsSchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit(args):
    """Audit events, filtered by object when asked (`object_type=plan&object_id=<uuid>`)."""
    return audit.list_events(args, args.get("object_type"), args.get("object_id"))
