#!/usr/bin/env python3
"""Test runner with the seed README's flags, over pytest markers.

    python scripts/run_tests.py --all                 # the whole fast suite (what `make test` runs)
    python scripts/run_tests.py --subscription        # subscription service tests
    python scripts/run_tests.py --payment             # payment service tests
    python scripts/run_tests.py --security            # security tests only
    python scripts/run_tests.py --all --coverage      # with a coverage report (htmlcov/index.html)
    python scripts/run_tests.py --pattern test_webhook
    python scripts/run_tests.py --summary             # how many tests each group has

Runs against real PostgreSQL and Redis (TEST_DATABASE_URL / TEST_REDIS_URL, started if
they are local and down). Slow suites are `make test-slow` (or add --slow).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = ("subscription", "payment", "security")


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


def build_args(opts) -> list[str]:
    markers = [g for g in GROUPS if getattr(opts, g)]
    expr = " or ".join(markers) if markers else ""
    slow = "slow" if opts.slow else "not slow"
    expr = f"({expr}) and {slow}" if expr else slow
    args = ["-m", expr]
    if opts.pattern:
        args += ["-k", opts.pattern]
    if opts.coverage:
        args += ["--cov=core", "--cov=subscription_app", "--cov=payment_app", "--cov=jobs",
                 "--cov-report=term-missing:skip-covered", "--cov-report=html"]
    return args + opts.pytest_args


def main() -> int:
    parser = argparse.ArgumentParser(description="Billing backend test runner")
    parser.add_argument("--all", action="store_true", help="every fast test (the default)")
    for group in GROUPS:
        parser.add_argument(f"--{group}", action="store_true", help=f"only tests marked {group}")
    parser.add_argument("--slow", action="store_true", help="the slow suites instead of the fast ones")
    parser.add_argument("--coverage", action="store_true", help="coverage report in htmlcov/")
    parser.add_argument("--pattern", help="only tests whose name matches (pytest -k)")
    parser.add_argument("--summary", action="store_true", help="count the tests of each group and exit")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    opts = parser.parse_args()
    _ensure_services()
    if opts.summary:
        for marker in (*GROUPS, "reliability", "slow", "not slow"):
            print(f"{marker:>14}: {_count(marker)} tests")
        return 0
    return subprocess.call([_python(), "-m", "pytest", *build_args(opts)], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
