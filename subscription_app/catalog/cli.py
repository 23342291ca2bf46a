"""`flask plans ...` and `flask features ...`: the catalog from a shell, through the API's own functions.

Each command runs one catalog function, audits as source `cli`, and commits; a refused input
prints the API's message naming the field, exits 1 and writes nothing.
"""
from __future__ import annotations

import functools
import json
import uuid

import click
from flask import Flask
from flask.cli import AppGroup

from core.errors import ApiError
from core.extensions import db
from core.money import format_money
from subscription_app.billing.periods import MAX_INTERVAL_COUNT
from subscription_app.catalog import audit, features, migration, plans
from subscription_app.catalog.models import FEATURE_KINDS

plans_cli = AppGroup("plans", help="Manage plans and their price versions.")
features_cli = AppGroup("features", help="Manage the feature catalogue.")


def committed(command):
    """Commit what the command did, or roll it all back and say why (naming the field) with exit 1."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            command(*args, **kwargs)
            db.session.commit()
        except ApiError as exc:
            db.session.rollback()
            fields = ", ".join(sorted((exc.errors or {}).get("json", {})))
            raise click.ClickException(f"{exc.message}" + (f" (field: {fields})" if fields else "")) from None
    return wrapper


def _limits(values: tuple[str, ...]) -> dict:
    """--limit api_calls=50000 --limit sso=true: each value read as JSON (null: unlimited)."""
    limits = {}
    for item in values:
        key, sep, raw = item.partition("=")
        try:
            limits[key] = json.loads(raw) if sep else None
        except json.JSONDecodeError:
            raise click.BadParameter(f"{item!r}: the value must be a number, true, false or null",
                                     param_hint="--limit") from None
    return limits


def _plan(plan_id: str):
    try:
        return plans.get_plan(uuid.UUID(plan_id))
    except ValueError:
        raise click.BadParameter("not a plan id (a UUID)", param_hint="PLAN_ID") from None


@plans_cli.command("create")
@click.option("--name", required=True)
@click.option("--price", "price_cents", type=int, required=True, help="Minor units, e.g. 4900 for 49.00 USD.")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 code.")
@click.option("--interval", "billing_interval", default="month", show_default=True,
              type=click.Choice(list(MAX_INTERVAL_COUNT)))
@click.option("--interval-count", type=int, default=1, show_default=True)
@click.option("--code", default=None, help="Defaults to the name in snake case.")
@click.option("--description", default=None)
@click.option("--limit", "limit_values", multiple=True, metavar="KEY=VALUE",
              help="A feature value, repeatable: api_calls=50000, api_calls=null (unlimited), sso=true.")
@committed
def create(limit_values, **spec):
    """Create a plan with its price version 1."""
    spec = {key: value for key, value in spec.items() if value is not None}
    plan = plans.create_plan({**spec, "feature_limits": _limits(limit_values)}, audit.CLI)
    click.echo(f"created plan {plan.id} {plan.code} {format_money(plan.price_cents, plan.currency)} "
               f"per {plan.interval_count} {plan.billing_interval}")


@plans_cli.command("list")
def list_command():
    """Every plan (archived ones marked), with its current price."""
    for plan in plans.list_plans():
        state = "" if plan.is_active else "  [archived]"
        click.echo(f"{plan.id}  {plan.code:<24} {plan.name:<20} {format_money(plan.price_cents, plan.currency):>14}"
                   f" / {plan.interval_count} {plan.billing_interval}  {json.dumps(plan.feature_limits)}{state}")


@plans_cli.command("update")
@click.argument("plan_id")
@click.option("--name", default=None)
@click.option("--description", default=None)
@click.option("--limit", "limit_values", multiple=True, metavar="KEY=VALUE",
              help="Replaces the plan's feature values when given (repeatable).")
@committed
def update(plan_id, name, description, limit_values):
    """Edit PLAN_ID's name, description or feature values (a price changes only with new-price)."""
    changes = {key: value for key, value in (("name", name), ("description", description)) if value is not None}
    if limit_values:
        changes["feature_limits"] = _limits(limit_values)
    plan = plans.update_plan(_plan(plan_id), changes, audit.CLI)
    click.echo(f"updated plan {plan.id} {plan.code}")


@plans_cli.command("archive")
@click.argument("plan_id")
@committed
def archive(plan_id):
    """Take no new subscribers on PLAN_ID; existing ones keep it."""
    plan = plans.set_archived(_plan(plan_id), True, audit.CLI)
    click.echo(f"archived plan {plan.id} {plan.code}")


@plans_cli.command("unarchive")
@click.argument("plan_id")
@committed
def unarchive(plan_id):
    """Offer PLAN_ID to new subscribers again."""
    plan = plans.set_archived(_plan(plan_id), False, audit.CLI)
    click.echo(f"unarchived plan {plan.id} {plan.code}")


@plans_cli.command("new-price")
@click.argument("plan_id")
@click.option("--price", "price_cents", type=int, required=True, help="Minor units.")
@committed
def new_price(plan_id, price_cents):
    """Issue a new price version of PLAN_ID; existing subscribers stay on theirs until migrated."""
    plan = _plan(plan_id)
    price = plans.new_price(plan, price_cents, audit.CLI)
    click.echo(f"plan {plan.code}: price version {price.version} is {format_money(price.amount_cents, price.currency)}"
               f"; existing subscribers keep theirs until `flask plans migrate`")


@plans_cli.command("migrate")
@click.argument("plan_id")
@click.option("--subscription", "subscription_id", default=None, help="One subscription id; omit for all.")
@click.option("--dry-run", is_flag=True, help="List who would move and for how much; change nothing.")
@committed
def migrate(plan_id, subscription_id, dry_run):
    """Move PLAN_ID's subscribers (or one) to its current price at their next period."""
    try:
        sub_id = uuid.UUID(subscription_id) if subscription_id else None
    except ValueError:
        raise click.BadParameter("not a subscription id (a UUID)", param_hint="--subscription") from None
    result = migration.migrate_price(_plan(plan_id), audit.CLI, subscription_id=sub_id, dry_run=dry_run)
    for move in result["subscriptions"]:
        old, new = (format_money(move[key], move["currency"]) for key in ("old_amount_cents", "new_amount_cents"))
        click.echo(f"{move['subscription_id']}  {move['email']:<30} {old} -> {new}  "
                   f"from {move['effective_at']:%Y-%m-%d %H:%M}")
    verb = "would move" if dry_run else "moving"
    click.echo(f"{verb} {result['count']} subscription(s) to price version {result['version']} at their next period")


@features_cli.command("create")
@click.argument("key")
@click.option("--kind", type=click.Choice(FEATURE_KINDS), required=True)
@click.option("--description", default=None)
@committed
def create_feature(key, kind, description):
    """Add feature KEY: metered (a limit per period) or flag (on/off)."""
    feature = features.create_feature({"key": key, "kind": kind, "description": description}, audit.CLI)
    click.echo(f"created feature {feature.key} ({feature.kind})")


@features_cli.command("list")
def list_features():
    """The feature catalogue."""
    for feature in features.list_features():
        click.echo(f"{feature.key:<24} {feature.kind:<8} {feature.description or ''}".rstrip())


def register(app: Flask) -> None:
    app.cli.add_command(plans_cli)
    app.cli.add_command(features_cli)
