"""Operator CLI: `flask users create-admin|demote|deactivate|reactivate`, `flask subscriptions show <email>`.

Reads and writes through the same models and account functions as the API; nothing here
talks to the payment service.
"""
from __future__ import annotations

import re

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from core import tokens
from core.extensions import db
from core.money import format_money
from core.security import BCRYPT_MAX_BYTES, hash_password
from subscription_app import accounts
from subscription_app.models import Invoice, Plan, Subscription, User

users_cli = AppGroup("users", help="Manage user accounts.")
subscriptions_cli = AppGroup("subscriptions", help="Inspect subscriptions and invoices.")

ADMIN_MIN_LENGTH = 12
COMMON_PASSWORDS = {"password123", "password1234", "admin123", "administrator", "qwerty123456", "123456789012",
                    "letmein12345", "changeme1234", "welcome12345", "passwordpassword"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def password_problem(password: str, email: str) -> str | None:
    """Why an admin password is too weak, or None. Admins get a stricter rule than users."""
    if len(password) < ADMIN_MIN_LENGTH:
        return f"must be at least {ADMIN_MIN_LENGTH} characters"
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        return f"must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 5:
        return "is too common or too repetitive"
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in lowered:
        return "must not contain the email address"
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if classes < 2:
        return "must mix at least two of: lower case, upper case, digits, symbols"
    return None


@users_cli.command("create-admin")
@click.option("--email", required=True, help="The admin's email (an existing user is promoted).")
@click.option("--password", default=None,
              help="Password; prompted for (hidden, with confirmation) when omitted for a new user. "
                   "Given for an existing user, it replaces the password and signs out every session.")
def create_admin(email: str, password: str | None):
    """Create an admin account, or promote an existing user to admin."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise click.BadParameter("not an email address", param_hint="--email")
    user = accounts.find_by_email(email)
    if password is None and user is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password is not None:
        problem = password_problem(password, email)
        if problem:
            raise click.ClickException(f"weak password: it {problem}")
    if user is None:
        user = accounts.register(email, password, role="admin")
        click.echo(f"created admin {user.email} (id {user.id})")
        return
    changes = []
    if user.role != "admin":
        user.role = "admin"
        changes.append("promoted to admin")
    if password is not None:
        user.password_hash = hash_password(password, accounts._rounds())
        accounts.revoke_every_token(user)  # a new password signs out every earlier token
        changes.append("password replaced, earlier tokens revoked")
    db.session.commit()
    if password is not None:
        tokens.cache_token_version(user.id, user.token_version)
    click.echo(f"{user.email} (id {user.id}): {', '.join(changes) if changes else 'already an admin, unchanged'}")


def _user_or_fail(email: str):
    user = accounts.find_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email.strip().lower()}")
    return user


@users_cli.command("deactivate")
@click.argument("email")
def deactivate(email: str):
    """Refuse EMAIL everywhere: no login, and every token already issued stops working on both services."""
    user = _user_or_fail(email)
    accounts.deactivate(user)
    click.echo(f"{user.email} (id {user.id}): deactivated, every token revoked")


@users_cli.command("demote")
@click.argument("email")
def demote(email: str):
    """Make admin EMAIL a plain user; every token already issued (which says admin) stops working."""
    user = _user_or_fail(email)
    if user.role != "admin":
        click.echo(f"{user.email} (id {user.id}): not an admin, unchanged")
        return
    admins = db.session.scalar(select(func.count()).select_from(User)
                               .where(User.role == "admin", User.is_active.is_(True), User.id != user.id))
    if not admins:
        raise click.ClickException(f"{user.email} is the last active admin: create another first "
                                   "(flask users create-admin)")
    accounts.demote(user)
    click.echo(f"{user.email} (id {user.id}): demoted to user, every token revoked")


@users_cli.command("reactivate")
@click.argument("email")
def reactivate(email: str):
    """Let EMAIL log in again; tokens from before the deactivation stay revoked."""
    user = _user_or_fail(email)
    accounts.reactivate(user)
    click.echo(f"{user.email} (id {user.id}): reactivated, the user logs in again")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


@subscriptions_cli.command("show")
@click.argument("email")
def show(email: str):
    """Show EMAIL's subscriptions (newest first) and open invoices."""
    user = _user_or_fail(email)
    state = "active" if user.is_active else "deactivated"
    click.echo(f"user {user.id}  {user.email}  role={user.role}  {state}  (times in UTC)\n")

    subs = db.session.execute(
        select(Subscription, Plan.code).join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.user_id == user.id).order_by(Subscription.created_at.desc())).all()
    click.echo(f"Subscriptions ({len(subs)})")
    if subs:
        # anchor: where the paid cycle started; periods end on it plus whole intervals (billing/periods.py).
        rows = [[str(s.id), code, s.status, f"{_when(s.current_period_start)} -> {_when(s.current_period_end)}",
                 _when(s.billing_cycle_anchor), _when(s.trial_end), "yes" if s.cancel_at_period_end else "no",
                 str(s.failed_payment_attempts)]
                for s, code in subs]
        click.echo(render_table(["id", "plan", "status", "period", "anchor", "trial_end", "cancel_at_end",
                                 "failed_attempts"], rows))

    invoices = db.session.scalars(
        select(Invoice).where(Invoice.user_id == user.id, Invoice.status == "open").order_by(Invoice.number)).all()
    click.echo(f"\nOpen invoices ({len(invoices)})")
    if invoices:
        rows = [[str(i.number), str(i.id), format_money(i.amount_due_cents - i.amount_paid_cents, i.currency),
                 i.reason, str(i.subscription_id or "-"), _when(i.created_at), str(i.attempt_count)]
                for i in invoices]
        click.echo(render_table(["number", "id", "amount_due", "reason", "subscription", "created", "attempts"],
                                rows))


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(subscriptions_cli)
