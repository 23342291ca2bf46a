"""`flask usage ...`: run the ledger sync by hand, rebuild counters from reported events."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from subscription_app.usage import ledger, recount

usage_cli = AppGroup("usage", help="Usage metering: counters in Redis, ledger in PostgreSQL.")


@usage_cli.command("sync-now")
def sync_now():
    """Sync every counter changed since the last sync to PostgreSQL, once, synchronously."""
    result = ledger.sync_dirty()
    click.echo(f"synced {result['rows']} counters of {result['users']} users in {result['seconds']}s")


@usage_cli.command("sweep")
def sweep():
    """Index dirty counters a crashed process never announced (SCANs every Redis node)."""
    click.echo(f"indexed {ledger.sweep_unindexed()} users")


@usage_cli.command("status")
def status():
    """Print the sync backlog (what /v1/health/queues shows)."""
    click.echo(json.dumps(ledger.sync_status()))


@usage_cli.command("recount")
@click.argument("user_id", type=int)
def recount_user(user_id: int):
    """Raise a customer's open-period counters to at least their reported events (after a Redis loss)."""
    click.echo(json.dumps(recount.recount(user_id)))
