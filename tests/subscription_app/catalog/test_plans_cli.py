"""`flask plans ...` and `flask features ...`: the same catalog functions as the admin API, audited as cli."""
import uuid

import pytest
from sqlalchemy import func, select

from core.extensions import db
from subscription_app.catalog.models import AuditEvent, PlanPrice
from subscription_app.models import Plan, Subscription
from tests.support.billing_support import subscribe_and_pay

pytestmark = [pytest.mark.subscription, pytest.mark.calendar]


@pytest.fixture
def cli(app, seeded):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def team_id() -> str:
    return str(db.session.scalar(select(Plan.id).where(Plan.code == "team")))


@pytest.mark.parametrize("command", ["create", "list", "update", "archive", "unarchive", "new-price", "migrate"])
def test_every_plans_command_has_help(cli, command):
    result = cli("plans", command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_create_new_price_and_migrate_dry_run(cli, client, make_user):
    created = cli("plans", "create", "--name", "Team", "--price", "4900", "--limit", "api_calls=50000")
    assert created.exit_code == 0, created.output
    assert "49.00 USD" in created.output and "team" in cli("plans", "list").output
    user, h = make_user("cli-payer@example.com")
    sub = subscribe_and_pay(client, h, user.id, plan_id=team_id())
    priced = cli("plans", "new-price", team_id(), "--price", "5900")
    assert priced.exit_code == 0 and "version 2 is 59.00 USD" in priced.output
    dry = cli("plans", "migrate", team_id(), "--dry-run")
    assert dry.exit_code == 0 and "cli-payer@example.com" in dry.output and "49.00 USD -> 59.00 USD" in dry.output
    assert db.session.get(Subscription, uuid.UUID(sub["id"])).pending_price_id is None
    assert cli("plans", "migrate", team_id()).exit_code == 0
    db.session.expire_all()
    pending = db.session.get(Subscription, uuid.UUID(sub["id"])).pending_price_id
    assert db.session.get(PlanPrice, pending).amount_cents == 5900
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.source == "cli")
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["plan.created", "plan.price_created", "plan.subscribers_migrated"]


@pytest.mark.parametrize("args,field", [
    (["--price", "-1"], "price_cents"), (["--currency", "XYZ"], "currency"),
    (["--limit", "api_calls=\"many\""], "feature_limits.api_calls"), (["--limit", "nope=1"], "feature_limits.nope"),
])
def test_bad_input_names_the_field_and_writes_nothing(cli, args, field):
    before = db.session.scalar(select(func.count()).select_from(Plan))
    result = cli("plans", "create", "--name", "Team", "--price", "4900", *args)  # a repeated --price wins
    assert result.exit_code == 1 and field in result.output, result.output
    assert db.session.scalar(select(func.count()).select_from(Plan)) == before


def test_duplicate_name_and_archive(cli):
    assert cli("plans", "create", "--name", "Team", "--price", "4900").exit_code == 0
    again = cli("plans", "create", "--name", "TEAM", "--price", "100")
    assert again.exit_code == 1 and "name" in again.output
    assert cli("plans", "archive", team_id()).exit_code == 0
    assert "[archived]" in cli("plans", "list").output
    assert db.session.get(Plan, uuid.UUID(team_id())).is_active is False


def test_features_create_and_list(cli):
    assert cli("features", "create", "sso", "--kind", "flag").exit_code == 0
    listed = cli("features", "list").output
    assert "sso" in listed and "flag" in listed and "api_calls" in listed
    assert cli("features", "create", "sso", "--kind", "flag").exit_code == 1
