"""`flask webhooks endpoints ...` and `flask webhooks events ...` on the subscription service.

The composition root (jobs/cli.py) adds the outboxes' `replay` and `dead` to this same group; the
payment service's `flask webhooks` has only those.
"""
from __future__ import annotations

import uuid
from datetime import timezone

import click
from flask import Flask
from flask.cli import AppGroup

from core.errors import ApiError
from subscription_app.catalog.audit import CLI
from subscription_app.integrations import endpoints, events

endpoints_cli = AppGroup("endpoints", help="Integrator webhook endpoints (docs/webhooks.md).")
events_cli = AppGroup("events", help="Integrator events: list and replay.")


def _show(endpoint, secret: bool = False) -> None:
    state = "enabled" if endpoint.enabled else f"disabled ({endpoint.disabled_reason})"
    click.echo(f"{endpoint.id}  {endpoint.url}  {','.join(endpoint.event_types) or 'all events'}  {state}")
    if secret:
        click.echo(f"secret (shown once): {endpoint.secret}")


def _run(fn, *args):
    try:
        return fn(*args)
    except ApiError as exc:
        raise click.ClickException(f"{exc.message}: {exc.errors}" if exc.errors else exc.message) from None


@endpoints_cli.command("add")
@click.argument("url")
@click.option("--event", "event_types", multiple=True, type=click.Choice(events.EVENT_TYPES),
              help="Event type to send (repeat); none means all.")
@click.option("--description", default=None)
def add(url, event_types, description):
    _show(_run(endpoints.create, CLI, url, list(event_types), description), secret=True)


@endpoints_cli.command("list")
def list_():
    for endpoint in endpoints.list_all():
        _show(endpoint)


@endpoints_cli.command("rotate")
@click.argument("endpoint_id", type=click.UUID)
@click.option("--overlap-seconds", type=click.IntRange(0, 7 * 86400), default=86400, show_default=True)
def rotate(endpoint_id, overlap_seconds):
    _show(_run(endpoints.rotate, CLI, endpoint_id, overlap_seconds), secret=True)


@endpoints_cli.command("disable")
@click.argument("endpoint_id", type=click.UUID)
def disable(endpoint_id):
    _show(_run(endpoints.update, CLI, endpoint_id, {"enabled": False}))


@endpoints_cli.command("enable")
@click.argument("endpoint_id", type=click.UUID)
def enable(endpoint_id):
    _show(_run(endpoints.update, CLI, endpoint_id, {"enabled": True}))


@endpoints_cli.command("delete")
@click.argument("endpoint_id", type=click.UUID)
def delete(endpoint_id):
    _run(endpoints.delete, CLI, endpoint_id)
    click.echo(f"deleted {endpoint_id}")


@endpoints_cli.command("replay")
@click.argument("endpoint_id", type=click.UUID)
@click.option("--since", type=click.DateTime(), help="Failed deliveries created since then (UTC).")
@click.option("--after-event", help="Every event after this evt_ id instead.")
def replay(endpoint_id, since, after_event):
    if (since is None) == (after_event is None):
        raise click.UsageError("give exactly one of --since and --after-event")
    if after_event:
        count = _run(endpoints.replay_after, CLI, endpoint_id, after_event)
    else:
        count = _run(endpoints.replay_since, CLI, endpoint_id, since.replace(tzinfo=since.tzinfo or timezone.utc))
    click.echo(f"replaying {count} deliveries")


@events_cli.command("replay")
@click.argument("event_id")
@click.option("--endpoint", "endpoint_id", type=click.UUID, required=True)
def replay_event(event_id, endpoint_id: uuid.UUID):
    delivery = _run(endpoints.replay_event, CLI, event_id, endpoint_id)
    click.echo(f"replaying {event_id} to {endpoint_id} as {delivery.id}")


def register(app: Flask) -> None:
    group = AppGroup("webhooks", help="Outgoing webhooks: integrator endpoints and events, and the outboxes.")
    group.add_command(endpoints_cli)
    group.add_command(events_cli)
    app.cli.add_command(group)
