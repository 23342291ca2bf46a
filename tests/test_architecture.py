"""The layering (docs/architecture.md): the import contract holds, a service builds without the other,
the worker runs each service function in its own service's app context, the CLI the Procfile
runs still works, and an import inside a function says why."""
import ast
import inspect
import os
import subprocess
import sys

import pytest
from flask import has_app_context
from rq import Queue, SimpleWorker, Worker

from core import tokens

from jobs.context import service_of
from jobs.worker import BillingWorker

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERED_PACKAGES = ("core", "jobs", "subscription_app", "payment_app")


def _run(*argv, env=None):
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_import_contracts_are_kept():
    result = _run(os.path.join(os.path.dirname(sys.executable), "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("service, other", [("subscription_app", "payment_app"), ("payment_app", "subscription_app")])
def test_building_one_service_never_loads_the_other(service, other, settings):
    code = (f"import sys; from tests.conftest import make_settings; from {service} import create_app; "
            f"create_app(make_settings()); print(sorted({{m.split('.')[0] for m in sys.modules}} & "
            f"{{'{other}', 'jobs'}}))")
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_job_belongs_to_the_service_its_function_lives_in():
    assert service_of("payment_app.payments.submit_to_gateway") == "payment"
    assert service_of("subscription_app.billing.cycle.run_billing_cycle") == "subscription"
    assert service_of("jobs.outbox.sweep_outboxes") is None  # the composition root picks its own apps


def test_the_worker_pushes_the_app_of_the_job_service(payment_app, redis_conn):
    assert not has_app_context()
    queue = Queue("default", connection=redis_conn)
    # Reads current_app's settings, then asks the subscription service (in-process here) about user 999.
    job = queue.enqueue("payment_app.identity.token_version_of", "999")
    BillingWorker([queue], connection=redis_conn).work(burst=True)
    assert job.get_status(refresh=True) == "finished", job.latest_result().exc_string
    assert job.return_value() == tokens.NO_USER


# What jobs/worker.py overrides or calls on RQ's Worker: if RQ changes one, this fails before production does.
RQ_SIGNATURES = {
    "execute_job": ["self", "job", "queue"],
    "perform_job": ["self", "job", "queue", "execution"],
}


@pytest.mark.parametrize("name", sorted(RQ_SIGNATURES))
@pytest.mark.parametrize("cls", [Worker, SimpleWorker])
def test_rq_worker_methods_we_extend_keep_their_signature(cls, name):
    assert list(inspect.signature(getattr(cls, name)).parameters) == RQ_SIGNATURES[name]


def test_procfile_worker_and_scheduler_commands_run(settings, redis_conn):
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "APP_ENV": "test"}
    job = Queue("default", connection=redis_conn).enqueue("jobs.maintenance.heartbeat")
    worker = _run(sys.executable, "-m", "flask", "--app", "wsgi:subscription_app", "rq", "worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stderr
    assert job.get_status(refresh=True) == "finished"
    sched = _run(sys.executable, "-m", "flask", "--app", "wsgi:subscription_app", "rq", "scheduler",
                 "--register-only", env=env)
    assert sched.returncode == 0, sched.stderr
    assert "registered" in sched.stdout
    dead = _run(sys.executable, "-m", "flask", "--app", "wsgi:payment_app", "webhooks", "dead", env=env)
    assert dead.returncode == 0, dead.stderr
    assert "dead outbox event(s)" in dead.stdout


@pytest.mark.parametrize("package", ["subscription_app", "payment_app"])
def test_a_service_package_names_only_its_own_modules(package):
    """`from payment_app import payments` is the service module, never a blueprint bound in __init__."""
    mod = __import__(package)
    for name, value in vars(mod).items():
        if inspect.ismodule(value) and value.__name__.startswith(package + "."):
            assert value.__name__ == f"{package}.{name}"


def imports_in_functions_without_why(source: str) -> list[int]:
    """Line numbers of imports inside a function with no comment on their line or above their group.

    A group is the run of import statements the import belongs to; one comment line right above it
    (the why: an optional dependency, a cycle the contract forbids, a heavy import on a CLI path)
    covers the group.
    """
    lines = source.splitlines()
    missing = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for body in _statement_lists(fn):
            for i, node in enumerate(body):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                first = i
                while first > 0 and isinstance(body[first - 1], (ast.Import, ast.ImportFrom)):
                    first -= 1
                above = lines[body[first].lineno - 2].strip() if body[first].lineno > 1 else ""
                if "#" not in lines[node.lineno - 1] and not above.startswith("#"):
                    missing.append(node.lineno)
    return missing


def _statement_lists(fn):
    """Every list of statements inside a function (its body, and those of its if/with/try/for blocks)."""
    for node in ast.walk(fn):
        for field in ("body", "orelse", "finalbody", "handlers"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield value


@pytest.mark.parametrize("source, missing", [
    ("def f():\n    import json\n    return json\n", [2]),
    ("def f():\n    if True:\n        from os import path\n", [3]),
    ("def f():\n    import json  # optional: only the export needs it\n", []),
    ("def f():\n    # a cycle the layers forbid at import time\n    import json\n    import os\n", []),
    ("def f():\n    # why\n    import json\n    x = 1\n    import os\n", [5]),
    ("import json\n\n\ndef f():\n    return json\n", []),
])
def test_the_function_import_check_finds_what_it_should(source, missing):
    assert imports_in_functions_without_why(source) == missing


def test_no_import_inside_a_function_without_a_comment_saying_why():
    offenders = []
    for package in LAYERED_PACKAGES:
        for folder, _, files in os.walk(os.path.join(REPO, package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with open(path) as f:
                        offenders += [f"{os.path.relpath(path, REPO)}:{line}"
                                      for line in imports_in_functions_without_why(f.read())]
    assert offenders == [], "move these imports to the top, or say why in a comment above them"


def test_no_test_module_imports_another():
    """Shared helpers live in tests/support (or conftest): a test module importing another runs its tests twice
    in spirit and breaks when that module moves."""
    offenders = []
    for folder, _, files in os.walk(os.path.join(REPO, "tests")):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names] if isinstance(node, ast.Import) else []
                offenders += [f"{os.path.relpath(path, REPO)}:{node.lineno} {n}" for n in names
                              if n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_")]
    assert offenders == [], "move what these share into tests/support/"
