"""The operator's coupons and promotion codes: created and listed by the admin API and `flask coupons`."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.errors import ApiError
from core.extensions import db
from subscription_app import integrations
from subscription_app.catalog import audit
from subscription_app.discounts.models import Coupon, PromotionCode
from subscription_app.models import Plan

COUPON_FIELDS = ("name", "percent_off", "amount_off_cents", "currency", "duration", "duration_in_periods",
                 "max_redemptions", "redeem_by")
CODE_FIELDS = ("code", "max_redemptions", "expires_at", "once_per_customer")


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, message, errors={"json": {field: [message]}})


def coupon_state(coupon: Coupon) -> dict:
    return {f: getattr(coupon, f) for f in (*COUPON_FIELDS, "id", "active", "times_redeemed", "applies_to_plan_ids")}


def _known_plans(plan_ids: list[uuid.UUID]) -> list[str]:
    found = set(db.session.scalars(select(Plan.id).where(Plan.id.in_(plan_ids))))
    missing = [str(p) for p in plan_ids if p not in found]
    if missing:
        raise _invalid("applies_to_plan_ids", f"Unknown plan {missing[0]}.")
    return [str(p) for p in plan_ids]


def create_coupon(data: dict, actor: audit.Actor) -> Coupon:
    """Validated by the schema (one kind, periods iff repeating); the plans must exist."""
    coupon = Coupon(id=uuid.uuid4(), times_redeemed=0, active=True, **{f: data.get(f) for f in COUPON_FIELDS},
                    applies_to_plan_ids=_known_plans(data.get("applies_to_plan_ids", [])))
    db.session.add(coupon)
    db.session.flush()
    audit.record(actor, "coupon.created", "coupon", coupon.id, None, coupon_state(coupon))
    return coupon


def list_coupons() -> list[Coupon]:
    return list(db.session.scalars(select(Coupon).order_by(Coupon.created_at.desc(), Coupon.id)))


def code_state(code: PromotionCode) -> dict:
    return {f: getattr(code, f) for f in (*CODE_FIELDS, "id", "coupon_id", "active", "times_redeemed")}


def create_code(data: dict, actor: audit.Actor) -> PromotionCode:
    if db.session.get(Coupon, data["coupon_id"]) is None:
        raise _invalid("coupon_id", "Unknown coupon.")
    code = PromotionCode(id=uuid.uuid4(), coupon_id=data["coupon_id"], active=True, times_redeemed=0,
                         **{f: data.get(f) for f in CODE_FIELDS if f in data})
    try:
        with db.session.begin_nested():
            db.session.add(code)
    except IntegrityError:
        raise _invalid("code", "A promotion code with this text exists already (codes ignore case).") from None
    audit.record(actor, "promotion_code.created", "promotion_code", code.id, None, code_state(code))
    return code


def list_codes() -> list[PromotionCode]:
    return list(db.session.scalars(select(PromotionCode).order_by(PromotionCode.created_at.desc(),
                                                                  PromotionCode.id)))


def find_code(text: str) -> PromotionCode | None:
    return db.session.scalar(select(PromotionCode).where(func.lower(PromotionCode.code) == text.strip().lower()))


def _locked(model, row_id: uuid.UUID, what: str):
    row = db.session.get(model, row_id, with_for_update=True)
    if row is None:
        raise ApiError(404, f"{what} not found")
    return row


def _set_active(row, active: bool, actor: audit.Actor, kind: str, state) -> None:
    """Audited and announced (`<kind>.updated`) only when it changes: setting it again is a no-op."""
    if row.active == active:
        return
    before = state(row)
    row.active = active
    audit.record(actor, f"{kind}.{'activated' if active else 'deactivated'}", kind, row.id, before, state(row))
    integrations.emit(f"{kind}.updated", kind, row.id, integrations.dump(row))


def set_coupon_active(coupon_id: uuid.UUID, active: bool, actor: audit.Actor) -> Coupon:
    """An inactive coupon is redeemed by none of its codes; the discounts it gave keep going (Stripe)."""
    coupon = _locked(Coupon, coupon_id, "Coupon")
    _set_active(coupon, active, actor, "coupon", coupon_state)
    return coupon


def set_code_active(code_id: uuid.UUID, active: bool, actor: audit.Actor) -> PromotionCode:
    """A code can be reactivated only while its coupon is active, as in Stripe."""
    code = _locked(PromotionCode, code_id, "Promotion code")
    if active and not db.session.get(Coupon, code.coupon_id).active:
        raise _invalid("active", "Its coupon is inactive: activate the coupon first.")
    _set_active(code, active, actor, "promotion_code", code_state)
    return code
