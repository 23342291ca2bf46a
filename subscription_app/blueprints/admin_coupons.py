"""/v1/admin/coupons and /v1/admin/promotion-codes: the operator's discounts (admin role only, audited)."""
import uuid

from flask_jwt_extended import jwt_required

from core.blueprint import Blueprint
from core.extensions import db
from subscription_app.accounts import require_admin
from subscription_app.catalog.audit import Actor
from subscription_app.discounts import catalog
from subscription_app.discounts.schemas import (CODE_EXAMPLE, COUPON_EXAMPLE, ActiveSchema, CouponCreateSchema,
                                                CouponSchema, PromotionCodeCreateSchema, PromotionCodeSchema)

blp = Blueprint("Admin: coupons", __name__, url_prefix="/v1/admin",
                description="Coupons and promotion codes (admin role only; every change audited)")
ADMIN = {"security": [{"bearerAuth": []}]}


def _admin() -> Actor:
    return Actor(require_admin().id, "api")


@blp.route("/coupons")
@jwt_required()
@blp.doc(**ADMIN)
@blp.response(200, CouponSchema(many=True))
@blp.alt_response(403, description="Admin role required")
def list_coupons():
    """Every coupon, newest first, with how often it was redeemed."""
    _admin()
    return catalog.list_coupons()


@blp.route("/coupons", methods=["POST"])
@jwt_required()
@blp.doc(**ADMIN)
@blp.arguments(CouponCreateSchema, example=COUPON_EXAMPLE)
@blp.response(201, CouponSchema)
@blp.alt_response(403, description="Admin role required")
def create_coupon(data):
    """A coupon: percent_off or amount_off_cents + currency; once, repeating N periods or forever."""
    coupon = catalog.create_coupon(data, _admin())
    db.session.commit()
    return coupon


@blp.route("/promotion-codes")
@jwt_required()
@blp.doc(**ADMIN)
@blp.response(200, PromotionCodeSchema(many=True))
@blp.alt_response(403, description="Admin role required")
def list_codes():
    """Every promotion code, newest first."""
    _admin()
    return catalog.list_codes()


@blp.route("/promotion-codes", methods=["POST"])
@jwt_required()
@blp.doc(**ADMIN)
@blp.arguments(PromotionCodeCreateSchema, example=CODE_EXAMPLE)
@blp.response(201, PromotionCodeSchema)
@blp.alt_response(403, description="Admin role required")
def create_code(data):
    """A customer-facing code for a coupon (unique, ignoring case), with limits of its own."""
    code = catalog.create_code(data, _admin())
    db.session.commit()
    return code


@blp.route("/coupons/<uuid:coupon_id>", methods=["PATCH"])
@jwt_required()
@blp.doc(**ADMIN)
@blp.arguments(ActiveSchema, example={"active": False})
@blp.response(200, CouponSchema)
@blp.alt_response(403, description="Admin role required")
@blp.alt_response(404, description="No such coupon")
def update_coupon(data, coupon_id: uuid.UUID):
    """Deactivate (or reactivate) a coupon: none of its codes redeems it; discounts it gave keep going."""
    coupon = catalog.set_coupon_active(coupon_id, data["active"], _admin())
    db.session.commit()
    return coupon


@blp.route("/promotion-codes/<uuid:code_id>", methods=["PATCH"])
@jwt_required()
@blp.doc(**ADMIN)
@blp.arguments(ActiveSchema, example={"active": False})
@blp.response(200, PromotionCodeSchema)
@blp.alt_response(403, description="Admin role required")
@blp.alt_response(404, description="No such promotion code")
def update_code(data, code_id: uuid.UUID):
    """Deactivate (or reactivate, while its coupon is active) a promotion code; its redemptions keep their discount."""
    code = catalog.set_code_active(code_id, data["active"], _admin())
    db.session.commit()
    return code
