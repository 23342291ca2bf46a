"""Plan changes during a trial (docs/lifecycle.md#changes-during-a-trial). There is never a second trial.

| to | `trial_end` | effect | charged now |
|---|---|---|---|
| another trial plan | (refused if given) | trial continues on it, same `trial_end` | 0 |
| a paid plan at or above the conversion price | absent | trial kept; converts to the new plan at `trial_end` | 0 |
| a paid plan cheaper than the conversion plan | absent | the new plan at once, still trialing to `trial_end` | 0 |
| any paid plan | `now` | trial ends now, the new plan's full price charged | new price |
"""
from __future__ import annotations

import uuid

from core import clock
from core.errors import ApiError
from core.extensions import db
from subscription_app.billing import history, invoices
from subscription_app.billing.lifecycle import is_trial_plan, load_plan, with_latest_invoice
from subscription_app.billing.renewals import conversion_plan, end_trial_now
from subscription_app.models import Plan, Subscription


def change_during_trial(sub: Subscription, plan_id: uuid.UUID, trial_end: str | None) -> Subscription:
    new = load_plan(plan_id)
    target = _checked(sub, new, trial_end)
    now = clock.utcnow()
    before = sub.plan_id
    if is_trial_plan(new):
        sub.plan_id, sub.pending_plan_id, rule = new.id, None, "trial_continues"
    elif trial_end == "now":
        if sub.payment_method_id is None:
            raise ApiError(422, "Ending the trial now charges the saved card, and there is none",
                           errors={"json": {"trial_end": ["Add a card first: PUT .../payment-method."]}})
        sub.pending_plan_id, rule = new.id, "trial_ended_now"
        end_trial_now(sub, now)
    elif new.price_cents < target.price_cents:
        sub.plan_id, sub.pending_plan_id, rule = new.id, None, "downgrade_now"
    else:
        sub.pending_plan_id, rule = new.id, "converts_at_trial_end"
    invoice = invoices.latest_invoice(sub) if rule == "trial_ended_now" else None
    history.record(sub, "plan_changed_in_trial", {
        "from_plan_id": str(before), "to_plan_id": str(new.id), "rule": rule,
        "charged_cents": invoice.amount_due_cents if invoice else 0, "trial_end": sub.trial_end.isoformat()})
    db.session.commit()
    return with_latest_invoice(sub)


def _checked(sub: Subscription, new: Plan, trial_end: str | None) -> Plan:
    """The plan the trial converts to now; 409/422 when this change is not allowed."""
    if invoices.open_invoice(sub, "trial_conversion") is not None:
        raise ApiError(409, "The trial is converting (its charge is in flight); change the plan once it is paid")
    if new.id == sub.plan_id:
        raise ApiError(422, "The subscription is already on this plan",
                       errors={"json": {"plan_id": ["Same as the current plan."]}})
    if is_trial_plan(new) and (trial_end is not None or new.converts_to_plan_id is None):
        raise ApiError(422, "A trial plan keeps the running trial; trial_end applies only to a paid plan",
                       errors={"json": {"trial_end": ["Only for a plan without a trial."]}})
    target = conversion_plan(sub)
    currency = (db.session.get(Plan, new.converts_to_plan_id) if is_trial_plan(new) else new).currency
    if target is not None and currency != target.currency:
        raise ApiError(422, "The new plan is billed in another currency",
                       errors={"json": {"plan_id": [f"Plan currency {currency} differs from {target.currency}."]}})
    return target or new
