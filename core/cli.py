"""Flask CLI commands every service has: `flask clock ...` (the worker's commands live in jobs/cli.py)."""
from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask
from flask.cli import AppGroup

from core import clock

clock_cli = AppGroup("clock", help="Move the billing clock in development and tests (never in production).")


@clock_cli.command("show")
def clock_show():
    """Print the billing clock and its offset."""
    click.echo(f"now={clock.utcnow().isoformat()} offset_seconds={clock.get_offset():.0f}")


@clock_cli.command("advance")
@click.option("--days", type=click.FloatRange(min=0), default=0.0)
@click.option("--hours", type=click.FloatRange(min=0), default=0.0)
@click.option("--seconds", type=click.FloatRange(min=0), default=0.0)
def clock_advance(days, hours, seconds):
    """Move the billing clock forward (adds to the current offset); `clock reset` is the only way back."""
    delta = timedelta(days=days, hours=hours, seconds=seconds).total_seconds()
    clock.set_offset(clock.get_offset() + delta)
    click.echo(f"now={clock.utcnow().isoformat()}")


@clock_cli.command("reset")
def clock_reset():
    """Back to real time."""
    clock.set_offset(0)
    click.echo(f"now={clock.utcnow().isoformat()}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(clock_cli)
