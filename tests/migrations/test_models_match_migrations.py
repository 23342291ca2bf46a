"""The models and the migrations describe the same schema: Alembic's autogenerate (what `flask db check`
runs) finds nothing to add on a database built by the migrations, with both services' tables loaded."""
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.extensions import db
from payment_app import models as payment_models
from subscription_app import models as subscription_models
from subscription_app.billing import models as billing_models

pytestmark = pytest.mark.subscription


def test_autogenerate_finds_no_difference(app):
    with app.app_context(), db.engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expression indexes Alembic cannot compare: it says so and skips them
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_every_table_module_shares_the_one_metadata():
    tables = set(db.metadata.tables)
    for module in (subscription_models, billing_models, payment_models):
        for model in vars(module).values():
            if isinstance(model, type) and issubclass(model, db.Model) and model is not db.Model:
                assert model.__tablename__ in tables
    assert {"subscriptions", "invoices", "users", "plans", "transactions"} <= tables
