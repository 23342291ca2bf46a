"""scripts/run_tests.py --pattern selects by test name and test file name (the seed's `--pattern test_webhook`)."""
import argparse
import os
import subprocess
import sys

import pytest

from scripts import run_tests

pytestmark = pytest.mark.subscription
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collected(pattern: str) -> list[str]:
    opts = argparse.Namespace(subscription=False, payment=False, security=False, slow=False, coverage=False,
                              pattern=pattern, pytest_args=[])
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          *run_tests.build_args(opts), "tests/"], cwd=ROOT, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "::" in line]


def test_the_seeds_example_selects_the_webhook_tests():
    selected = _collected("test_webhook")
    files = {line.split("::")[0] for line in selected}
    assert {"tests/subscription_app/billing/test_payment_webhook.py",
            "tests/payment_app/test_gateway_webhook.py"} <= files
    assert all("webhook" in line.lower() for line in selected)


def test_a_test_name_selects_that_test():
    by_name = _collected("test_month_arithmetic_clamps_to_month_end")
    assert by_name == ["tests/subscription_app/test_admin_clock_and_script.py"
                       "::test_month_arithmetic_clamps_to_month_end"]


def test_only_a_plain_name_loses_its_test_prefix():
    assert run_tests.keyword_expression("test_refunds") == "refunds"
    assert run_tests.keyword_expression("webhook and not gateway") == "webhook and not gateway"
    assert run_tests.keyword_expression("test_") == "test_"


def test_all_runs_the_calendar_check_as_make_test_does():
    opts = argparse.Namespace(all=True, subscription=False, payment=False, security=False, slow=False,
                              coverage=False, pattern=None, pytest_args=[])
    assert "--calendar" in run_tests.build_args(opts)
    with open(os.path.join(ROOT, "Makefile")) as makefile:
        assert 'pytest -m "not slow" --calendar' in makefile.read()
    opts.all = False
    assert "--calendar" not in run_tests.build_args(opts)


def test_all_spreads_over_the_cores_as_make_test_does(monkeypatch):
    monkeypatch.delenv("PYTEST_WORKERS", raising=False)
    opts = argparse.Namespace(all=True, subscription=False, payment=False, security=False, slow=False,
                              coverage=False, pattern=None, pytest_args=[], workers=None)
    args = run_tests.build_args(opts)
    assert args[args.index("-n") + 1] == "auto"
    with open(os.path.join(ROOT, "Makefile")) as makefile:
        assert "-n $(PYTEST_WORKERS)" in makefile.read()
    opts.workers = "0"
    args = run_tests.build_args(opts)
    assert args[args.index("-n") + 1] == "0"
    opts.all, opts.workers = False, None
    assert "-n" not in run_tests.build_args(opts)
