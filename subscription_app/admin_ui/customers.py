"""Customers, read-only: search by email prefix, and one customer's subscriptions and invoices."""
from __future__ import annotations

from flask import abort, request
from sqlalchemy import select

from core.extensions import db
from subscription_app.admin_ui.views import bp, page
from subscription_app.models import CreditNote, Invoice, Plan, Subscription, User

LIMIT = 50


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@bp.route("/customers")
def customer_list():
    q = request.args.get("q", "").strip().lower()[:254]
    stmt = select(User).order_by(User.email).limit(LIMIT)
    if q:
        stmt = stmt.where(User.email.like(_escape_like(q) + "%", escape="\\"))
    return page("customers.html", customers=db.session.scalars(stmt).all(), q=q, limit=LIMIT)


@bp.route("/customers/<int:user_id>")
def customer_detail(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    subs = db.session.execute(select(Subscription, Plan).join(Plan, Plan.id == Subscription.plan_id)
                              .where(Subscription.user_id == user_id)
                              .order_by(Subscription.created_at.desc())).all()
    invoices = db.session.scalars(select(Invoice).where(Invoice.user_id == user_id)
                                  .order_by(Invoice.number.desc()).limit(LIMIT)).all()
    notes = db.session.scalars(select(CreditNote).where(CreditNote.user_id == user_id)
                               .order_by(CreditNote.number.desc()).limit(LIMIT)).all()
    return page("customer.html", customer=user, subscriptions=subs, invoices=invoices, credit_notes=notes)
