"""/v1/admin/users: deactivate and reactivate a user (admin role only, in production too).

The operator's action belongs to the back office; here it is the rule and its test (docs/auth.md).
Unlike /v1/admin/clock it exists in production: refusing a user must not need a shell.
"""
from core.errors import ApiError
from core.extensions import db
from subscription_app import accounts
from subscription_app.billing import upcoming
from subscription_app.billing.schemas import UpcomingInvoiceSchema
from subscription_app.blueprints.admin_blueprint import AdminBlueprint
from subscription_app.models import User
from subscription_app.schemas import UserSchema

blp = AdminBlueprint("admin_users", __name__, url_prefix="/v1/admin/users", description="Admin: user accounts")


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "User not found")
    return user


@blp.route("/<int:user_id>/deactivate", methods=["POST"])
@blp.response(200, UserSchema)
def deactivate(user_id: int):
    """Refuse the user everywhere: no login, every token already issued revoked on both services."""
    user = _user(user_id)
    accounts.deactivate(user)
    return user


@blp.route("/<int:user_id>/reactivate", methods=["POST"])
@blp.response(200, UserSchema)
def reactivate(user_id: int):
    """Let the user log in again; tokens from before the deactivation stay revoked."""
    user = _user(user_id)
    accounts.reactivate(user)
    return user


@blp.route("/<int:user_id>/upcoming-invoice")
@blp.response(200, UpcomingInvoiceSchema)
def upcoming_invoice(user_id: int):
    """The user's next renewal as of now, as the customer sees it at GET /v1/invoices/upcoming."""
    return upcoming.upcoming(_user(user_id).id)
