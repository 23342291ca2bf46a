"""Integrator webhooks (issue #18): endpoints, their secrets (shown once), the delivery log, replay.

Every action goes through integrations.endpoints, as the admin API and the CLI do, and is audited
there. A new secret is shown once, on the page the POST redirects to: it waits in Redis under a
random one-time token (GETDEL, a few minutes at most), never in the session cookie (signed, not
encrypted) or the URL, so reloading that page neither shows it again nor registers a second endpoint.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import timezone

from flask import current_app, flash, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, HiddenField, IntegerField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from core.errors import ApiError
from subscription_app.admin_ui.forms import ActionForm
from subscription_app.admin_ui.views import actor, attach_errors, bp, page
from subscription_app.integrations import endpoints
from subscription_app.integrations.events import EVENT_TYPES
from subscription_app.integrations.models import DELIVERY_STATUSES
from subscription_app.integrations.schemas import WEEK

LOG_LIMIT = 50
REVEAL_SECONDS = 300
REVEAL_KEY = "admin-ui:webhook-secret:{token}"


class EndpointForm(FlaskForm):
    url = StringField("URL (https; http only outside production)", validators=[DataRequired(), Length(max=2048)])
    event_types = SelectMultipleField("Event types (none ticked: every event)", choices=list(EVENT_TYPES),
                                      option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    description = StringField("Description", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Register endpoint")


class EnabledForm(FlaskForm):
    """The enable or disable button: its hidden field says which."""
    enabled = HiddenField(validators=[AnyOf(["true", "false"])])


class RotateForm(FlaskForm):
    overlap_seconds = IntegerField("Overlap: seconds the old secret keeps signing", default=86400,
                                   validators=[InputRequired(), NumberRange(min=0, max=WEEK)])
    submit = SubmitField("Rotate secret")


class ReplaySinceForm(FlaskForm):
    since = DateTimeLocalField("Failed since (UTC)", format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                               validators=[InputRequired()])
    submit = SubmitField("Replay failed deliveries")


class ReplayEventForm(FlaskForm):
    event_id = StringField("Event id (evt_...)", validators=[DataRequired(), Length(max=40)])
    submit = SubmitField("Replay event")


def _list(form: EndpointForm, status: int = 200):
    return page("webhooks.html", status, endpoints=endpoints.list_all(), form=form)


@bp.route("/webhooks")
def webhook_list():
    return _list(EndpointForm())


@bp.route("/webhooks", methods=["POST"])
def webhook_create():
    form = EndpointForm()
    if not form.validate_on_submit():
        return _list(form, 422)
    try:
        endpoint = endpoints.create(actor(), form.url.data.strip(), form.event_types.data,
                                    form.description.data or None)
    except ApiError as exc:
        attach_errors(form, exc)
        return _list(form, exc.code)
    return _reveal(endpoint.id, endpoint.secret)


def _reveal(endpoint_id: uuid.UUID, secret: str):
    """Redirect to the endpoint's page, which shows `secret` once."""
    token = secrets.token_urlsafe(24)
    current_app.extensions["redis"].set(REVEAL_KEY.format(token=token), secret, ex=REVEAL_SECONDS)
    return redirect(url_for("admin_ui.webhook_detail", endpoint_id=endpoint_id, reveal=token), code=303)


def _revealed() -> tuple[str | None, bool]:
    """(the secret waiting for this page, whether one was asked for): each token shows it once."""
    token = request.args.get("reveal", "")[:64]
    if not token:
        return None, False
    value = current_app.extensions["redis"].getdel(REVEAL_KEY.format(token=token))
    return (value.decode() if value else None), True


def _detail(endpoint_id: uuid.UUID, *, status: int = 200, **forms):
    shown = request.args.get("status", "")
    log = endpoints.delivery_log(endpoint_id, shown if shown in DELIVERY_STATUSES else None, LOG_LIMIT)
    secret, asked = _revealed()
    return page("webhook.html", status, endpoint=endpoints.get(endpoint_id), secret=secret, secret_gone=asked and
                not secret, log=log,
                statuses=DELIVERY_STATUSES, shown=shown, enabled_form=EnabledForm(),
                rotate_form=forms.get("rotate_form") or RotateForm(),
                since_form=forms.get("since_form") or ReplaySinceForm(),
                event_form=forms.get("event_form") or ReplayEventForm(), action_form=ActionForm())


@bp.route("/webhooks/<uuid:endpoint_id>")
def webhook_detail(endpoint_id: uuid.UUID):
    return _detail(endpoint_id)


def _back(endpoint_id: uuid.UUID):
    return redirect(url_for("admin_ui.webhook_detail", endpoint_id=endpoint_id))


@bp.route("/webhooks/<uuid:endpoint_id>/enabled", methods=["POST"])
def webhook_enabled(endpoint_id: uuid.UUID):
    form = EnabledForm()
    if not form.validate_on_submit():
        return _detail(endpoint_id, status=422)
    endpoint = endpoints.update(actor(), endpoint_id, {"enabled": form.enabled.data == "true"})
    flash(f"Endpoint {'enabled' if endpoint.enabled else 'disabled'}.")
    return _back(endpoint_id)


@bp.route("/webhooks/<uuid:endpoint_id>/rotate", methods=["POST"])
def webhook_rotate(endpoint_id: uuid.UUID):
    form = RotateForm()
    if not form.validate_on_submit():
        return _detail(endpoint_id, status=422, rotate_form=form)
    endpoint = endpoints.rotate(actor(), endpoint_id, form.overlap_seconds.data)
    return _reveal(endpoint_id, endpoint.secret)


def _replayed(endpoint_id: uuid.UUID, form: FlaskForm, form_name: str, replay):
    try:
        message = replay()
    except ApiError as exc:
        attach_errors(form, exc)
        return _detail(endpoint_id, status=exc.code, **{form_name: form})
    flash(message)
    return _back(endpoint_id)


@bp.route("/webhooks/<uuid:endpoint_id>/replay", methods=["POST"])
def webhook_replay_since(endpoint_id: uuid.UUID):
    form = ReplaySinceForm()
    if not form.validate_on_submit():
        return _detail(endpoint_id, status=422, since_form=form)
    since = form.since.data.replace(tzinfo=timezone.utc)

    def replay() -> str:
        count = endpoints.replay_since(actor(), endpoint_id, since)
        return f"Replaying {count} failed deliveries created since {since:%Y-%m-%d %H:%M} UTC."
    return _replayed(endpoint_id, form, "since_form", replay)


@bp.route("/webhooks/<uuid:endpoint_id>/replay-event", methods=["POST"])
def webhook_replay_event(endpoint_id: uuid.UUID):
    form = ReplayEventForm()
    if not form.validate_on_submit():
        return _detail(endpoint_id, status=422, event_form=form)
    event_id = form.event_id.data.strip()

    def replay() -> str:
        return f"Replaying {event_id} as {endpoints.replay_event(actor(), event_id, endpoint_id).id}."
    return _replayed(endpoint_id, form, "event_form", replay)


@bp.route("/webhooks/<uuid:endpoint_id>/delete", methods=["POST"])
def webhook_delete(endpoint_id: uuid.UUID):
    if not ActionForm().validate_on_submit():
        return _detail(endpoint_id, status=422)
    endpoints.delete(actor(), endpoint_id)
    flash("Endpoint deleted; its deliveries and their log went with it.")
    return redirect(url_for("admin_ui.webhook_list"))
