"""Customers for the operator: search, one customer's whole picture, and their link fields."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select

from core.errors import ApiError
from core.extensions import db
from core.pagination import list_page
from subscription_app.backoffice import transactions
from subscription_app.catalog import audit
from subscription_app.catalog.audit import Actor
from subscription_app.catalog.models import AuditEvent
from subscription_app.discounts import balance
from subscription_app.discounts.models import Coupon, Discount
from subscription_app.models import CreditNote, Invoice, Subscription, User
from subscription_app.usage import metering

DETAIL_LIMIT = 50
# Newest first; ix_users_created_at_id serves the order, the cursor and the created_* filters.
ORDER = [User.created_at, User.id]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def email_starts_with(prefix: str):
    # lower(email) LIKE 'prefix%' is what ix_users_email_prefix (text_pattern_ops) serves.
    return db.func.lower(User.email).like(_escape_like(prefix.lower()) + "%", escape="\\")


def filtered(email_prefix: str | None = None, status: str | None = None, past_due: bool | None = None,
             created_from: datetime | None = None, created_to: datetime | None = None):
    """Customers matching the filters; status matches any of their subscriptions, past_due one that is past due."""
    stmt = select(User)
    if email_prefix:
        stmt = stmt.where(email_starts_with(email_prefix))
    if status:
        stmt = stmt.where(exists().where(Subscription.user_id == User.id, Subscription.status == status))
    if past_due is not None:
        is_past_due = exists().where(Subscription.user_id == User.id, Subscription.status == "past_due")
        stmt = stmt.where(is_past_due if past_due else ~is_past_due)
    if created_from:
        stmt = stmt.where(User.created_at >= created_from)
    if created_to:
        stmt = stmt.where(User.created_at < created_to)
    return stmt


def search(paging: dict, **filters) -> dict:
    """A page of customers, newest first: a cursor page (limit/starting_after) or an offset page (page/per_page)."""
    return list_page(filtered(**filters), ORDER, paging)


def get_customer(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "Customer not found")
    return user


def find_customer(key: str) -> User:
    """By id, email or external_id: what an operator has at hand in a shell."""
    clauses = [db.func.lower(User.email) == key.lower(), User.external_id == key]
    if key.isdigit():
        clauses.append(User.id == int(key))
    user = db.session.scalar(select(User).where(db.or_(*clauses)).limit(1))
    if user is None:
        raise ApiError(404, "Customer not found")
    return user


def _newest(model, order, user_id: int) -> list:
    return db.session.scalars(select(model).where(model.user_id == user_id).order_by(order.desc())
                              .limit(DETAIL_LIMIT)).all()


def _trail(user_id: int) -> list[AuditEvent]:
    """Operator actions on the customer, their subscriptions and their invoices, newest first."""
    owned = [(t, select(db.cast(m.id, db.String)).where(m.user_id == user_id))
             for t, m in (("subscription", Subscription), ("invoice", Invoice))]
    about = db.or_(db.and_(AuditEvent.object_type == "customer", AuditEvent.object_id == str(user_id)),
                   *(db.and_(AuditEvent.object_type == t, AuditEvent.object_id.in_(ids)) for t, ids in owned))
    return db.session.scalars(select(AuditEvent).where(about).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                              .limit(DETAIL_LIMIT)).all()


def _discounts(subscriptions: list[Subscription]) -> list[Discount]:
    """The discounts still running on these subscriptions, each with its coupon's terms attached."""
    rows = db.session.execute(select(Discount, Coupon).join(Coupon, Coupon.id == Discount.coupon_id).where(
        Discount.subscription_id.in_([s.id for s in subscriptions]),
        db.or_(Discount.periods_left.is_(None), Discount.periods_left > 0))).all()
    for discount, coupon in rows:
        discount.coupon = coupon
    return [discount for discount, _ in rows]


def detail(user_id: int) -> dict:
    """Profile, credit held, subscriptions with their running discounts, invoices, credit notes, payment
    transactions and audit trail (newest 50 each), and usage this period (None without an entitled
    subscription), as GET /v1/usage/stats reads it."""
    user = get_customer(user_id)
    subscriptions = _newest(Subscription, Subscription.created_at, user.id)
    return {"customer": user, "balance": balance.balances(user.id), "subscriptions": subscriptions,
            "discounts": _discounts(subscriptions), "invoices": _newest(Invoice, Invoice.number, user.id),
            "credit_notes": _newest(CreditNote, CreditNote.number, user.id), "audit": _trail(user.id),
            "transactions": transactions.of_customer(user.id, DETAIL_LIMIT),
            "usage": metering.stats(user.id)["current_period"]}


def _links(user: User) -> dict:
    return {"external_id": user.external_id, "metadata": dict(user.metadata_ or {})}


def update_links(user_id: int, changes: dict, actor: Actor) -> User:
    """Set external_id and/or metadata (metadata replaces the whole map); a taken external_id is a 422."""
    user = get_customer(user_id)
    before = _links(user)
    if "external_id" in changes:
        taken = db.session.scalar(select(User.id).where(User.external_id == changes["external_id"], User.id != user.id))
        if changes["external_id"] is not None and taken is not None:
            raise ApiError(422, "Validation failed",
                           errors={"json": {"external_id": ["Another customer has this external_id."]}})
        user.external_id = changes["external_id"]
    if "metadata" in changes:
        user.metadata_ = changes["metadata"]
    audit.record(actor, "customer.updated", "customer", user.id, before, _links(user))
    return user
