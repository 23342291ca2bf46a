"""Subscription-service CLI: `flask seed`; operator commands live in admin_cli."""
import click
from flask import Flask


@click.command("seed")
def seed_command():
    """Create the admin user (admin@test.com / password123) and the plans; idempotent."""
    from subscription_app.seed import seed

    counts = seed()
    click.echo(f"seeded: {counts['plans_created']} plans and {counts['users_created']} users created")


@click.command("billing-cycle")
def billing_cycle_command():
    """Run renewals, trial ends, dunning and expiry once now (what the scheduler runs every minute)."""
    from subscription_app.billing.renewals import run_cycle

    click.echo(run_cycle())


def register(app: Flask) -> None:
    app.cli.add_command(seed_command)
    app.cli.add_command(billing_cycle_command)
    from subscription_app import admin_cli
    admin_cli.register(app)
