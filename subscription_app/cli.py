"""Subscription-service CLI: `flask seed`; operator commands live in admin_cli."""
import sys
import time

import click
from flask import Flask

from subscription_app import admin_cli
from subscription_app.backoffice import cli as backoffice_cli
from subscription_app.billing.renewals import run_cycle
from subscription_app.catalog import cli as catalog_cli
from subscription_app.discounts import cli as discounts_cli
from subscription_app.seed import seed


@click.command("seed")
def seed_command():
    """Create the admin user (admin@test.com / password123) and the plans; idempotent."""
    counts = seed()
    click.echo(f"seeded: {counts['plans_created']} plans and {counts['users_created']} users created")


STEP_LABELS = {"renewed_or_ended": "renewed or ended", "dunning_retries": "dunning retries",
               "expired": "expired unpaid", "lapsed_plan_changes": "lapsed plan changes"}


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _progress_on_terminal():
    """A progress callback writing to stderr when it is a terminal, else None (logs and cron stay clean)."""
    if not _stderr_is_terminal():
        return None
    return lambda step, handled: click.echo(f"\r{STEP_LABELS[step]}: {handled:,}".ljust(40), err=True, nl=False)


def summary_line(summary: dict, seconds: float) -> str:
    counts = ", ".join(f"{label} {summary[key]:,}" for key, label in STEP_LABELS.items())
    return f"{counts}, failed {summary['failed']:,} in {seconds:.1f} s"


@click.command("billing-cycle")
@click.pass_context
def billing_cycle_command(ctx):
    """Run renewals, trial ends, dunning and expiry now, until nothing is due (what the scheduler runs).

    Exits 1 when some subscriptions failed (the log names them); they are retried by the next run.
    """
    progress = _progress_on_terminal()
    started = time.perf_counter()
    summary = run_cycle(progress=progress)
    if progress is not None:
        click.echo(err=True)  # end the progress line
    click.echo(summary_line(summary, time.perf_counter() - started))
    if summary["failed"]:
        ctx.exit(1)


def register(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(billing_cycle_command)
    admin_cli.register(app)
    catalog_cli.register(app)
    backoffice_cli.register(app)
    discounts_cli.register(app)
