"""Each pytest-xdist worker gets a database and a Redis db of its own (tests/conftest.py)."""
import pytest

from tests.conftest import _per_worker

DB = "postgresql://postgres@127.0.0.1:5432/billing_test"


def test_the_first_worker_and_a_plain_run_keep_the_configured_urls():
    assert _per_worker(DB, "redis://127.0.0.1:6379/15", None) == (DB, "redis://127.0.0.1:6379/15")
    assert _per_worker(DB, "redis://127.0.0.1:6379/15", "gw0") == (DB, "redis://127.0.0.1:6379/15")


def test_other_workers_get_their_own_database_and_skip_the_bench_redis_db():
    assert _per_worker(DB, "redis://127.0.0.1:6379/15", "gw1") == (
        DB + "_gw1", "redis://127.0.0.1:6379/13")
    assert _per_worker(DB, "redis://127.0.0.1:6379/15", "gw2") == (
        DB + "_gw2", "redis://127.0.0.1:6379/12")
    assert _per_worker(DB, "redis://127.0.0.1:6379/9", "gw1")[1] == "redis://127.0.0.1:6379/8"


def test_running_out_of_redis_dbs_is_a_clear_usage_error():
    with pytest.raises(pytest.UsageError, match="no Redis db left"):
        _per_worker(DB, "redis://127.0.0.1:6379/2", "gw3")
