"""Subscriptions: list with filters (status, plan, customer email), and the operator's actions on one.

Every action calls backoffice/subscriptions_admin.py, as POST /v1/admin/subscriptions/... does;
cancel and change plan move money, so they take the form's idempotency key.
"""
from __future__ import annotations

import uuid
from datetime import timezone

from flask import abort, request, url_for
from sqlalchemy import select
from wtforms import SelectChoice

from core.errors import ApiError
from core.extensions import db
from subscription_app.admin_ui.forms import CancelForm, ChangePlanForm, ResumeForm, TrialForm
from subscription_app.admin_ui.views import actor, bp, form_idempotent, page, submitted
from subscription_app.backoffice import subscriptions_admin
from subscription_app.billing import invoices
from subscription_app.catalog import plans, prices
from subscription_app.models import SUBSCRIPTION_STATUSES, Invoice, Plan, Subscription, User

LIMIT = 50


def _filters() -> dict:
    """The list's query (status, plan, email) as subscriptions_admin.filtered reads it; unknown values are dropped."""
    filters = {"status": request.args.get("status", ""), "plan": request.args.get("plan", ""),
               "email": request.args.get("email", "").strip()[:254]}
    try:
        plan_id = uuid.UUID(filters["plan"]) if filters["plan"] else None
    except ValueError:
        plan_id = None
    return {"status": filters["status"] if filters["status"] in SUBSCRIPTION_STATUSES else None,
            "plan_id": plan_id, "email_prefix": filters["email"] or None}


@bp.route("/subscriptions")
def subscription_list():
    filters, after = _filters(), request.args.get("after")
    error = None
    try:
        result = subscriptions_admin.search({"limit": LIMIT, **({"starting_after": after} if after else {})},
                                            **filters)
    except ApiError as exc:
        error, result = exc.message, {"items": [], "next_cursor": None}
    subs = result["items"]
    emails = dict(db.session.execute(select(User.id, User.email).where(User.id.in_({s.user_id for s in subs}))).all())
    query = {"status": filters["status"] or "", "plan": filters["plan_id"] or "", "email": filters["email_prefix"] or ""}
    next_url = (url_for("admin_ui.subscription_list", **query, after=result["next_cursor"])
                if result["next_cursor"] else None)
    return page("subscriptions.html", 422 if error else 200, subscriptions=subs, emails=emails, query=query,
                plans={p.id: p for p in plans.list_plans()}, statuses=SUBSCRIPTION_STATUSES, next_url=next_url,
                error=error)


def _load(subscription_id: uuid.UUID) -> Subscription:
    try:
        return subscriptions_admin.load(subscription_id)
    except ApiError:
        abort(404)


def _plan_form(sub: Subscription, form: ChangePlanForm | None = None) -> ChangePlanForm:
    form = form or ChangePlanForm()
    form.plan_id.choices = [SelectChoice(str(p.id), f"{p.name} ({p.code})") for p in plans.list_plans(False)
                            if p.id != sub.plan_id]
    return form


def _detail(sub: Subscription, forms: dict | None = None, status: int = 200):
    forms = forms or {}
    recent = db.session.scalars(select(Invoice).where(Invoice.subscription_id == sub.id)
                                .order_by(Invoice.number.desc()).limit(10)).all()
    plan = db.session.get(Plan, sub.plan_id)
    return page("subscription.html", status, sub=sub, plan=plan, price=prices.price_of(sub, plan),
                pending=db.session.get(Plan, sub.pending_plan_id) if sub.pending_plan_id else None,
                customer=db.session.get(User, sub.user_id), invoices=recent,
                upgrade_open=invoices.open_invoice(sub, "subscription_update") is not None,
                cancel_form=forms.get("cancel") or CancelForm(), resume_form=forms.get("resume") or ResumeForm(),
                plan_form=_plan_form(sub, forms.get("plan")), trial_form=forms.get("trial") or TrialForm())


@bp.route("/subscriptions/<uuid:subscription_id>")
def subscription_detail(subscription_id: uuid.UUID):
    return _detail(_load(subscription_id))


def _act(subscription_id: uuid.UUID, name: str, form, action):
    """Post one action form; a refusal re-renders the page with that form's errors and the domain's status."""
    sub = _load(subscription_id)
    if name == "plan":
        _plan_form(sub, form)
    return submitted(form, action, lambda f, code: _detail(_load(subscription_id), {name: f}, code),
                     url_for("admin_ui.subscription_detail", subscription_id=subscription_id))


@bp.route("/subscriptions/<uuid:subscription_id>/cancel", methods=["POST"])
@form_idempotent
def subscription_cancel(subscription_id: uuid.UUID):
    def cancel(form: CancelForm) -> str:
        at_end = bool(form.at_period_end.data)
        sub = subscriptions_admin.cancel(subscription_id, at_end, actor())
        return "Canceling at the period end." if at_end else f"Canceled ({sub.status})."
    return _act(subscription_id, "cancel", CancelForm(), cancel)


@bp.route("/subscriptions/<uuid:subscription_id>/resume", methods=["POST"])
def subscription_resume(subscription_id: uuid.UUID):
    def resume(form: ResumeForm) -> str:
        return f"Resumed: {subscriptions_admin.resume(subscription_id, actor()).status}."
    return _act(subscription_id, "resume", ResumeForm(), resume)


@bp.route("/subscriptions/<uuid:subscription_id>/plan", methods=["POST"])
@form_idempotent
def subscription_change_plan(subscription_id: uuid.UUID):
    def change(form: ChangePlanForm) -> str:
        sub = subscriptions_admin.change_plan(subscription_id, uuid.UUID(form.plan_id.data), form.proration.data,
                                              actor())
        invoice = sub.latest_invoice
        if invoice is not None and invoice.reason == "subscription_update" and invoice.status == "open":
            return f"Plan change billed: invoice #{invoice.number}; the plan switches when it is paid."
        return "Plan changed." if sub.pending_plan_id is None else "The new plan starts at the period end."
    return _act(subscription_id, "plan", ChangePlanForm(), change)


@bp.route("/subscriptions/<uuid:subscription_id>/trial", methods=["POST"])
def subscription_extend_trial(subscription_id: uuid.UUID):
    def extend(form: TrialForm) -> str:
        sub = subscriptions_admin.extend_trial(subscription_id, form.trial_end.data.replace(tzinfo=timezone.utc),
                                               actor())
        return f"Trial extended to {sub.trial_end:%Y-%m-%d %H:%M} UTC."
    return _act(subscription_id, "trial", TrialForm(), extend)
