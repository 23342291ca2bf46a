"""/v1/admin/coupons and /v1/admin/promotion-codes: the operator's discounts (admin role only, audited)."""
import uuid

from core.extensions import db
from subscription_app.blueprints.admin_blueprint import AdminBlueprint, admin_actor
from subscription_app.discounts import catalog
from subscription_app.discounts.schemas import (CODE_EXAMPLE, COUPON_EXAMPLE, ActiveSchema, CouponCreateSchema,
                                                CouponSchema, PromotionCodeCreateSchema, PromotionCodeSchema)

blp = AdminBlueprint("Admin: coupons", __name__, url_prefix="/v1/admin",
                     description="Coupons and promotion codes (admin role only; every change audited)")


@blp.route("/coupons")
@blp.response(200, CouponSchema(many=True))
def list_coupons():
    """Every coupon, newest first, with how often it was redeemed."""
    return catalog.list_coupons()


@blp.route("/coupons", methods=["POST"])
@blp.arguments(CouponCreateSchema, example=COUPON_EXAMPLE)
@blp.response(201, CouponSchema)
def create_coupon(data):
    """A coupon: percent_off or amount_off_cents + currency; once, repeating N periods or forever."""
    coupon = catalog.create_coupon(data, admin_actor())
    db.session.commit()
    return coupon


@blp.route("/promotion-codes")
@blp.response(200, PromotionCodeSchema(many=True))
def list_codes():
    """Every promotion code, newest first."""
    return catalog.list_codes()


@blp.route("/promotion-codes", methods=["POST"])
@blp.arguments(PromotionCodeCreateSchema, example=CODE_EXAMPLE)
@blp.response(201, PromotionCodeSchema)
def create_code(data):
    """A customer-facing code for a coupon (unique, ignoring case), with limits of its own."""
    code = catalog.create_code(data, admin_actor())
    db.session.commit()
    return code


@blp.route("/coupons/<uuid:coupon_id>", methods=["PATCH"])
@blp.arguments(ActiveSchema, example={"active": False})
@blp.response(200, CouponSchema)
@blp.alt_response(404, description="No such coupon")
def update_coupon(data, coupon_id: uuid.UUID):
    """Deactivate (or reactivate) a coupon: none of its codes redeems it; discounts it gave keep going."""
    coupon = catalog.set_coupon_active(coupon_id, data["active"], admin_actor())
    db.session.commit()
    return coupon


@blp.route("/promotion-codes/<uuid:code_id>", methods=["PATCH"])
@blp.arguments(ActiveSchema, example={"active": False})
@blp.response(200, PromotionCodeSchema)
@blp.alt_response(404, description="No such promotion code")
def update_code(data, code_id: uuid.UUID):
    """Deactivate (or reactivate, while its coupon is active) a promotion code; its redemptions keep their discount."""
    code = catalog.set_code_active(code_id, data["active"], admin_actor())
    db.session.commit()
    return code
