"""`flask coupons ...` and `flask promotion-codes ...`: the admin API's functions and schemas from a shell.

Options are loaded through the API's schemas, so a refused input gets the same rule and message
(naming the field), exits 1 and writes nothing; each change is audited as source `cli`.
"""
from __future__ import annotations

import uuid

import click
from flask import Flask
from flask.cli import AppGroup
from marshmallow import ValidationError

from subscription_app.catalog import audit
from subscription_app.catalog.cli import committed
from subscription_app.discounts import catalog
from subscription_app.discounts.models import DURATIONS
from subscription_app.discounts.schemas import CouponCreateSchema, PromotionCodeCreateSchema

coupons_cli = AppGroup("coupons", help="Manage coupons (what a discount is worth, for how long).")
codes_cli = AppGroup("promotion-codes", help="Manage promotion codes (the strings customers type).")


def _load(schema, options: dict) -> dict:
    given = {key: value for key, value in options.items() if value not in (None, ())}
    try:
        return schema.load(given)
    except ValidationError as exc:
        fields = ", ".join(sorted(exc.messages))
        raise click.ClickException(f"{exc.messages} (field: {fields})") from None


@coupons_cli.command("create")
@click.option("--name", required=True)
@click.option("--percent-off", type=int, help="1 to 100; or give --amount-off and --currency.")
@click.option("--amount-off", "amount_off_cents", type=int, help="Minor units, e.g. 500 for 5.00 USD.")
@click.option("--currency", help="ISO 4217 code of --amount-off.")
@click.option("--duration", type=click.Choice(DURATIONS), required=True)
@click.option("--periods", "duration_in_periods", type=int, help="With --duration repeating.")
@click.option("--max-redemptions", type=int)
@click.option("--redeem-by", help="ISO 8601 with a timezone.")
@click.option("--plan", "applies_to_plan_ids", multiple=True, help="A plan id it applies to (repeat); none: all.")
@committed
def create_coupon(**options):
    """Create a coupon."""
    data = _load(CouponCreateSchema(), {**options, "applies_to_plan_ids": list(options["applies_to_plan_ids"])})
    coupon = catalog.create_coupon(data, audit.CLI)
    click.echo(f"{coupon.id} {coupon.name}")


@coupons_cli.command("list")
def list_coupons():
    """Every coupon: id, name, what it takes off, duration, redeemed/max, active."""
    for c in catalog.list_coupons():
        off = f"{c.percent_off}%" if c.percent_off is not None else f"{c.amount_off_cents} {c.currency}"
        periods = f" x{c.duration_in_periods}" if c.duration_in_periods else ""
        click.echo(f"{c.id} {c.name!r} {off} {c.duration}{periods} {c.times_redeemed}/{c.max_redemptions or '-'}"
                   f" active={c.active}")


def _coupon_id(text: str):
    try:
        return uuid.UUID(text)
    except ValueError:
        raise click.BadParameter("a coupon id (flask coupons list shows them)", param_hint="COUPON_ID") from None


def _code_id(text: str):
    """A promotion code by its id or its text (any case)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        code = catalog.find_code(text)
        if code is None:
            raise click.BadParameter(f"no promotion code {text!r}", param_hint="CODE") from None
        return code.id


def _switch_commands(group: AppGroup, argument: str, find, setter, helps: dict[str, str]) -> None:
    """`deactivate ARGUMENT` and `activate ARGUMENT` in `group`: the row `find` names, switched by `setter`."""
    for name, active in (("deactivate", False), ("activate", True)):
        def switch(active=active, **args):
            row = setter(find(args[argument]), active, audit.CLI)  # a refusal is an ApiError: @committed says it
            click.echo(f"{row.id} active={row.active}")
        group.command(name, help=helps[name])(click.argument(argument)(committed(switch)))


_switch_commands(coupons_cli, "coupon_id", _coupon_id, catalog.set_coupon_active, {
    "deactivate": "No code redeems this coupon any more; the discounts it gave keep going.",
    "activate": "Make a deactivated coupon redeemable again."})


@codes_cli.command("create")
@click.option("--code", required=True)
@click.option("--coupon", "coupon_id", required=True, help="The coupon id.")
@click.option("--max-redemptions", type=int)
@click.option("--expires-at", help="ISO 8601 with a timezone.")
@click.option("--once-per-customer", is_flag=True, default=None)
@committed
def create_code(**options):
    """Create a promotion code for a coupon."""
    code = catalog.create_code(_load(PromotionCodeCreateSchema(), options), audit.CLI)
    click.echo(f"{code.id} {code.code}")


@codes_cli.command("list")
def list_codes():
    """Every promotion code: id, code, coupon, active, redeemed/max, expiry."""
    for p in catalog.list_codes():
        click.echo(f"{p.id} {p.code} coupon={p.coupon_id} active={p.active} "
                   f"{p.times_redeemed}/{p.max_redemptions or '-'} expires={p.expires_at or '-'}")


_switch_commands(codes_cli, "code", _code_id, catalog.set_code_active, {
    "deactivate": "CODE (its text or id) is refused from now on; its redemptions keep their discount.",
    "activate": "Make CODE redeemable again (its coupon must be active)."})


def register(app: Flask) -> None:
    app.cli.add_command(coupons_cli)
    app.cli.add_command(codes_cli)
