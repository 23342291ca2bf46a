"""The UI's forms: Flask-WTF adds the CSRF token and gives every input a label."""
from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateTimeLocalField, EmailField, HiddenField, IntegerField, PasswordField,
                     SelectChoice, SelectField, StringField, SubmitField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

INTERVALS = [SelectChoice(i) for i in ("month", "year", "week", "day")]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    submit = SubmitField("Sign in")


class ActionForm(FlaskForm):
    """A button that posts: logout, archive (the CSRF token is its only field)."""


class ArchiveForm(FlaskForm):
    archived = BooleanField("Archived")
    submit = SubmitField("Save")


class PlanForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    price_cents = IntegerField("Price (minor units, e.g. cents)", validators=[InputRequired(), NumberRange(min=0)])
    currency = StringField("Currency (ISO 4217)", default="USD", validators=[DataRequired(), Length(min=3, max=3)])
    billing_interval = SelectField("Billing interval", choices=INTERVALS, default="month")
    interval_count = IntegerField("Intervals per period", default=1, validators=[NumberRange(min=1)])
    trial_days = IntegerField("Trial days", default=0, validators=[Optional(), NumberRange(min=0, max=730)])
    feature_key = SelectField("Feature", choices=[], validate_choice=False)
    feature_limit = IntegerField("Feature limit per period (empty: unlimited)",
                                 validators=[Optional(), NumberRange(min=0)])
    submit = SubmitField("Create plan")


class PriceForm(FlaskForm):
    price_cents = IntegerField("New price (minor units)", validators=[InputRequired(), NumberRange(min=0)])
    submit = SubmitField("Add price version")


class RefundForm(FlaskForm):
    amount_cents = IntegerField("Amount (minor units; empty: the rest)", validators=[Optional(), NumberRange(min=1)])
    reason = StringField("Reason", validators=[Optional(), Length(max=255)])
    keep_subscription = BooleanField("Keep the subscription on a full refund")
    submit = SubmitField("Refund")


class ActionPanelForm(FlaskForm):
    """One of several forms on a page: its PREFIX keeps field names and ids apart from the others'."""
    PREFIX = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", self.PREFIX)
        super().__init__(*args, **kwargs)


class MoneyForm(ActionPanelForm):
    """A money action: its Idempotency-Key is made when the form is rendered, so a double submit acts once."""
    idempotency_key = HiddenField(default=lambda: uuid.uuid4().hex,
                                  validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])


class CancelForm(MoneyForm):
    PREFIX = "cancel"
    now = SubmitField("Cancel now")
    at_period_end = SubmitField("Cancel at period end")


class ResumeForm(ActionPanelForm):
    PREFIX = "resume"
    submit = SubmitField("Un-cancel / resume")


PRORATIONS = [SelectChoice("create_prorations", "Prorate: credit unused time, charge the rest now"),
              SelectChoice("none", "None: new price from the next renewal"),
              SelectChoice("full_price_now", "Full price now: new period from the payment, no credit")]


class ChangePlanForm(MoneyForm):
    PREFIX = "plan"
    plan_id = SelectField("New plan", choices=[], validators=[DataRequired()])
    proration = SelectField("Proration", choices=PRORATIONS, default="create_prorations")
    submit = SubmitField("Change plan")


class TrialForm(ActionPanelForm):
    PREFIX = "trial"
    trial_end = DateTimeLocalField("New trial end (UTC)", format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    submit = SubmitField("Extend trial")


class VoidForm(MoneyForm):
    PREFIX = "void"
    submit = SubmitField("Void invoice")


class UncollectibleForm(MoneyForm):
    PREFIX = "uncollectible"
    submit = SubmitField("Mark uncollectible")


class CreditNoteForm(MoneyForm):
    PREFIX = "credit"
    amount_cents = IntegerField("Credit amount (minor units; empty: all that is left)",
                                validators=[Optional(), NumberRange(min=1)])
    reason = StringField("Credit reason", validators=[DataRequired(), Length(max=200)])
    submit = SubmitField("Issue credit note (to the customer balance)")
