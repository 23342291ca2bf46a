#!/usr/bin/env python3
"""Test runner with the seed README's flags, over pytest markers.

    python scripts/run_tests.py --all                 # the whole fast suite, as `make test` runs it
    python scripts/run_tests.py --all --workers 0     # the same in one process (no pytest-xdist)
    python scripts/run_tests.py --subscription        # subscription service tests
    python scripts/run_tests.py --payment             # payment service tests
    python scripts/run_tests.py --security            # security tests only
    python scripts/run_tests.py --all --coverage      # with a coverage report (htmlcov/index.html)
    python scripts/run_tests.py --pattern test_webhook  # tests whose name or file name has "webhook"
    python scripts/run_tests.py --summary             # how many tests each group has

Runs against real PostgreSQL and Redis (TEST_DATABASE_URL / TEST_REDIS_URL, started if
they are local and down). Slow suites are `make test-slow` (or add --slow).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = ("subscription", "payment", "security")
NO_TESTS_COLLECTED = 5  # pytest's exit code


def _python() -> str:
    venv = os.path.join(ROOT, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def _ensure_services() -> None:
    env = os.environ
    subprocess.run([_python(), os.path.join(ROOT, "scripts", "services.py"), "ensure",
                    "--database-url", env.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/billing_test"),
                    "--redis-url", env.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")], check=True)


def _count(marker: str) -> int:
    out = subprocess.run([_python(), "-m", "pytest", "--collect-only", "-q", "-m", marker], cwd=ROOT,
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if "::" in line)


def keyword_expression(pattern: str) -> str:
    """The pytest -k expression for --pattern: a name matches test names and test file names.

    pytest -k matches substrings of a test's name and of its file's name; every test and test file
    starts with "test_", so a leading "test_" is dropped (the seed's `--pattern test_webhook` means
    the webhook tests: test_payment_webhook.py, test_gateway_webhook.py...). Anything that is not a
    plain name (`"webhook and not gateway"`) is passed to -k as it is.
    """
    if re.fullmatch(r"[A-Za-z0-9_]+", pattern) and pattern.lower().startswith("test_") and len(pattern) > 5:
        return pattern[5:]
    return pattern


def build_args(opts) -> list[str]:
    markers = [g for g in GROUPS if getattr(opts, g)]
    expr = " or ".join(markers) if markers else ""
    slow = "slow" if opts.slow else "not slow"
    expr = f"({expr}) and {slow}" if expr else slow
    args = ["-m", expr]
    if getattr(opts, "all", False) or getattr(opts, "calendar", False):
        args.append("--calendar")  # billing tests at every calendar edge instant, as `make test` runs them
    workers = opts.workers if getattr(opts, "workers", None) is not None else (
        os.environ.get("PYTEST_WORKERS", "auto") if getattr(opts, "all", False) else None)
    if workers is not None:
        args += ["-n", str(workers)]  # pytest-xdist; each worker has its own database (docs/testing.md)
    if opts.pattern:
        args += ["-k", keyword_expression(opts.pattern)]
    if opts.coverage:
        args += ["--cov=core", "--cov=subscription_app", "--cov=payment_app", "--cov=jobs",
                 "--cov-report=term-missing:skip-covered", "--cov-report=html"]
    return args + opts.pytest_args


def main() -> int:
    parser = argparse.ArgumentParser(description="Billing backend test runner")
    parser.add_argument("--all", action="store_true", help="every fast test, as `make test` runs them (with --calendar)")
    parser.add_argument("--calendar", action="store_true",
                        help="billing tests at every calendar edge instant (docs/testing.md)")
    for group in GROUPS:
        parser.add_argument(f"--{group}", action="store_true", help=f"only tests marked {group}")
    parser.add_argument("--slow", action="store_true", help="the slow suites instead of the fast ones")
    parser.add_argument("--coverage", action="store_true", help="coverage report in htmlcov/")
    parser.add_argument("--pattern", help="only tests whose name or file name contains this (a leading test_ is "
                        "ignored), or a pytest -k expression")
    parser.add_argument("--workers", help="pytest-xdist workers (`auto`: one per core, 0: one process); "
                        "--all defaults to PYTEST_WORKERS or auto, as `make test`")
    parser.add_argument("--summary", action="store_true", help="count the tests of each group and exit")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    opts = parser.parse_args()
    _ensure_services()
    if opts.summary:
        for marker in (*GROUPS, "reliability", "slow", "not slow"):
            print(f"{marker:>14}: {_count(marker)} tests")
        return 0
    code = subprocess.call([_python(), "-m", "pytest", *build_args(opts)], cwd=ROOT)
    if code == NO_TESTS_COLLECTED and opts.pattern:
        print(f"no test name or test file name matches --pattern {opts.pattern!r}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
