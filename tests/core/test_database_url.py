"""DATABASE_URL reaches SQLAlchemy with the psycopg2 driver named, whatever SQLAlchemy's default for postgresql://."""
from core.app import _database_url
from core.extensions import db


def test_the_app_connects_through_psycopg2(app):
    with app.app_context():
        assert db.engine.dialect.driver == "psycopg2"


def test_bare_and_heroku_urls_name_psycopg2_and_keep_the_password():
    assert _database_url("postgres://u:p%40ss@db:5432/billing") == "postgresql+psycopg2://u:p%40ss@db:5432/billing"
    assert _database_url("postgresql://u@db/billing") == "postgresql+psycopg2://u@db/billing"


def test_an_explicit_driver_is_kept():
    assert _database_url("postgresql+psycopg2://u@db/x") == "postgresql+psycopg2://u@db/x"
    assert _database_url("sqlite://") == "sqlite://"
