"""Plans: list, create with a feature limit, new price version, archive; all through catalog/ (audited)."""
from __future__ import annotations

import uuid

from flask import redirect, url_for
from wtforms import SelectChoice

from core.errors import ApiError
from core.extensions import db
from subscription_app.admin_ui.forms import ArchiveForm, PlanForm, PriceForm
from subscription_app.admin_ui.views import actor, attach_errors, bp, page
from subscription_app.catalog import features, plans


def _plan_form() -> PlanForm:
    form = PlanForm()
    form.feature_key.choices = [SelectChoice("", "(none)")] + [SelectChoice(f.key, f"{f.key} ({f.kind})")
                                                               for f in features.list_features()]
    return form


def _spec(form: PlanForm) -> dict:
    spec = {"name": form.name.data, "price_cents": form.price_cents.data, "currency": form.currency.data.upper(),
            "billing_interval": form.billing_interval.data, "interval_count": form.interval_count.data,
            "trial_days": form.trial_days.data or 0}
    if form.feature_key.data:
        spec["feature_limits"] = {form.feature_key.data: form.feature_limit.data}
    return spec


def _list(form: PlanForm, status: int = 200):
    return page("plans.html", status, plans=plans.list_plans(), form=form)


@bp.route("/plans")
def plan_list():
    return _list(_plan_form())


@bp.route("/plans", methods=["POST"])
def plan_create():
    form = _plan_form()
    if not form.validate_on_submit():
        return _list(form, 422)
    try:
        plan = plans.create_plan(_spec(form), actor())
    except ApiError as exc:
        attach_errors(form, exc)
        return _list(form, exc.code)
    db.session.commit()
    return redirect(url_for("admin_ui.plan_detail", plan_id=plan.id))


def _detail(plan, price_form=None, status: int = 200):
    archive = ArchiveForm(archived=not plan.is_active)
    return page("plan.html", status, plan=plan, prices=plans.list_prices(plan), price_form=price_form or PriceForm(),
                archive_form=archive)


@bp.route("/plans/<uuid:plan_id>")
def plan_detail(plan_id: uuid.UUID):
    return _detail(plans.get_plan(plan_id))


@bp.route("/plans/<uuid:plan_id>/prices", methods=["POST"])
def plan_new_price(plan_id: uuid.UUID):
    plan, form = plans.get_plan(plan_id), PriceForm()
    if not form.validate_on_submit():
        return _detail(plan, form, 422)
    try:
        plans.new_price(plan, form.price_cents.data, actor())
    except ApiError as exc:
        attach_errors(form, exc)
        return _detail(plans.get_plan(plan_id), form, exc.code)
    db.session.commit()
    return redirect(url_for("admin_ui.plan_detail", plan_id=plan_id))


@bp.route("/plans/<uuid:plan_id>/archive", methods=["POST"])
def plan_archive(plan_id: uuid.UUID):
    form = ArchiveForm()
    plans.set_archived(plans.get_plan(plan_id), bool(form.archived.data), actor())
    db.session.commit()
    return redirect(url_for("admin_ui.plan_detail", plan_id=plan_id))
