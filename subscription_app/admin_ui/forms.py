"""The UI's forms: Flask-WTF adds the CSRF token and gives every input a label."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (BooleanField, EmailField, IntegerField, PasswordField, SelectChoice, SelectField, StringField,
                     SubmitField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

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
