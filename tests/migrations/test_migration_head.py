"""One Alembic head, so the plain `flask db upgrade` (what every Flask-Migrate user types) works."""
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

pytestmark = pytest.mark.subscription
ROOT = Path(__file__).resolve().parents[2]


def test_the_migration_history_has_one_head():
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, script.get_heads()


def test_release_steps_use_the_plain_upgrade():
    for name in ("Procfile", "Makefile", "docker-compose.yml", "README.md"):
        text = (ROOT / name).read_text()
        assert "db upgrade heads" not in text, name
    assert "db upgrade" in (ROOT / "Procfile").read_text()
