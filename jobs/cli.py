"""The CLI that drives the worker layer: `flask rq worker|scheduler`, `flask webhooks dead|replay`.

jobs/apps.py adds these to every app it builds (wsgi.py's, the Procfile's); a service's own
create_app() knows nothing of them.
"""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.orm import configure_mappers

from core.logging import configure_logging
from core.queues import QUEUE_NAMES, get_queue
from jobs.context import SERVICES, get_app, register_app
from jobs.outbox import dead_events, replay_event
from jobs.scheduler import BillingScheduler, register, run_forever
from jobs.worker import BillingForkWorker, BillingWorker, work_forever

WORKER_MAINTENANCE_SECONDS = 30

rq_cli = AppGroup("rq", help="RQ worker and scheduler for the billing queues.")
webhooks_cli = AppGroup("webhooks", help="Outgoing events (the outboxes of both services).")


@rq_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--fork", "fork", is_flag=True,
              help="Fork a child per job (isolation at several times the cost). Default: run jobs in-process.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
def worker(queues, burst, fork, name):
    """Run a worker on QUEUES (default: all, highest priority first), with RQ's scheduler for delayed jobs."""
    register_app(current_app._get_current_object())
    # Build both services' apps and configure the ORM now, before any fork: a forking worker's
    # child would otherwise do it for every job and throw it away at exit.
    for service in SERVICES:
        get_app(service)
    configure_mappers()
    names = queues or QUEUE_NAMES
    unknown = set(names) - set(QUEUE_NAMES)
    if unknown:
        raise click.BadParameter(f"unknown queues {sorted(unknown)}; known: {', '.join(QUEUE_NAMES)}")
    cls = BillingForkWorker if fork else BillingWorker
    conn = current_app.extensions["redis"]
    # Maintenance also re-takes RQ's scheduler lock: with RQ's default of 10 minutes, delayed jobs
    # (gateway answers, webhook retries) would wait that long after the worker holding the lock
    # was SIGKILLed. Its lock expires after 61 s; a 30 s interval picks it up soon after.
    def make_worker(restarts: int):
        return cls([get_queue(n) for n in names], connection=conn,
                   name=f"{name}-{restarts}" if name and restarts else name,
                   maintenance_interval=WORKER_MAINTENANCE_SECONDS)

    configure_logging(current_app.config["SETTINGS"], "worker", process="worker")
    work_forever(make_worker, burst=burst, logging_level=current_app.config["SETTINGS"].log_level)


@rq_cli.command("scheduler")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between scheduler polls.")
@click.option("--register-only", is_flag=True, help="Register the periodic jobs and exit.")
def scheduler(interval, register_only):
    """Register jobs/schedule.py's periodic jobs with rq-scheduler and run it."""
    conn = current_app.extensions["redis"]
    sched = BillingScheduler(connection=conn, interval=interval)
    ids = register(sched)
    click.echo(f"registered {len(ids)} periodic jobs: {', '.join(ids)}")
    if not register_only:
        configure_logging(current_app.config["SETTINGS"], "scheduler", process="scheduler")
        run_forever(sched)


@webhooks_cli.command("replay")
@click.argument("event_id")
def webhooks_replay(event_id):
    """Deliver outbox event EVENT_ID again (dead, or delivered: receivers ignore a duplicate)."""
    try:
        service, event_type = replay_event(event_id)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"re-enqueued {event_type} {event_id} from the {service} service's outbox")


@webhooks_cli.command("dead")
@click.option("--type", "event_type", default=None, help="Only this event type, e.g. refund.requested.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def webhooks_dead(event_type, limit):
    """List the outbox events delivery gave up on (both services), newest first.

    A dead refund.requested is money taken that nobody has given back yet: fix what the last error
    says, then `flask webhooks replay <event_id>`.
    """
    events = dead_events(event_type, limit)
    click.echo(f"{len(events)} dead outbox event(s){f' of type {event_type}' if event_type else ''}")
    for e in events:
        subject = " ".join(f"{k}={v}" for k, v in e["subject"].items())
        click.echo(f"{e['id']}  {e['service']}  {e['event_type']} -> {e['target']}  attempts={e['attempts']}  "
                   f"dead_at={e['dead_at'].isoformat(timespec='seconds')}  {subject}".rstrip())
        click.echo(f"    last error: {' '.join(str(e['last_error']).split())}")  # one line per event
    if events:
        click.echo("deliver one again once its cause is fixed: flask webhooks replay <event_id>")


def init_app(app: Flask) -> None:
    app.cli.add_command(rq_cli)
    own = app.cli.commands.get("webhooks")  # the subscription service's integrator endpoints and events
    if own is None:
        app.cli.add_command(webhooks_cli)
        return
    for name, command in webhooks_cli.commands.items():
        own.add_command(command, name)
