"""The blueprint of the operator's API: an admin's token is checked once per blueprint, before anything else.

Every /v1/admin route used to repeat `@jwt_required()`, the bearer security and the 403 response in its
decorator stack and call `require_admin()` in its body; a route that forgot the call was open to every
customer. Here the check is a `before_request` hook of the blueprint (flask-jwt-extended's documented
`verify_jwt_in_request`), so it runs before argument parsing and idempotency keys, and `route` adds the
security and the 403 to each route's OpenAPI entry.
"""
from __future__ import annotations

from flask_jwt_extended import verify_jwt_in_request

from core.blueprint import Blueprint
from core.idempotency import openapi_parameter
from subscription_app import accounts
from subscription_app.catalog.audit import Actor

BEARER = [{"bearerAuth": []}]
IDEMPOTENCY = {"parameters": [openapi_parameter("Replays the first answer for the same key and body")]}


class AdminBlueprint(Blueprint):
    """A flask-smorest blueprint whose routes answer only to a user with the admin role."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_request(_require_admin)

    def route(self, rule, *, parameters=None, tags=None, **options):
        register = super().route(rule, parameters=parameters, tags=tags, **options)

        def decorator(func):
            documented = self.alt_response(403, description="Admin role required")(self.doc(security=BEARER)(func))
            register(documented)
            return func

        return decorator


def _require_admin() -> None:
    verify_jwt_in_request()
    accounts.require_admin()


def admin_actor() -> Actor:
    """The signed-in admin, for the audit row of a change (the role was checked before the view)."""
    return Actor(accounts.current_user_id(), "api")
