"""docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine runs here)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from scripts import healthcheck

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[1]
APPS = ("subscription", "payment", "worker", "scheduler", "dashboard")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    return [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_every_long_running_service_has_a_healthcheck(compose):
    for name in ("postgres", "redis", *APPS):
        check = compose["services"][name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
    for name in ("subscription", "payment"):
        test = compose["services"][name]["healthcheck"]["test"]
        assert any("/v1/health" in part for part in test), name


def test_the_release_runs_once_before_every_app_process(compose):
    release = compose["services"]["release"]
    assert release["restart"] == "no" and "flask db upgrade" in " ".join(release["command"])
    for name in APPS:
        depends = compose["services"][name]["depends_on"]
        assert depends["release"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name


def test_ports_are_published_on_loopback_by_default(compose):
    for name, service in compose["services"].items():
        for mapping in service.get("ports", []):
            host = re.sub(r"\$\{BIND_ADDRESS:-([^}]*)\}", r"\1", mapping).rsplit(":", 2)[0]
            assert host == "127.0.0.1", (name, mapping)


def test_web_concurrency_is_set(compose):
    for name in ("subscription", "payment"):
        assert compose["services"][name]["environment"]["WEB_CONCURRENCY"], name


def test_the_image_is_slim_non_root_cached_and_healthchecked(dockerfile):
    assert dockerfile[0].startswith("FROM python:") and dockerfile[0].endswith("-slim")
    copies = [i for i, line in enumerate(dockerfile) if line.startswith("COPY")]
    install = next(i for i, line in enumerate(dockerfile) if "pip install" in line)
    assert dockerfile[copies[0]] == "COPY requirements.txt ." and copies[0] < install < copies[1]
    assert "requirements-dev" not in "\n".join(dockerfile)  # no test tools, no honcho
    assert dockerfile[copies[1]].startswith("COPY --chown=")  # not copy-then-chown, which stores the tree twice
    assert not any("chown -R" in line for line in dockerfile)
    users = [line for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] != "USER root"
    assert any(line.startswith("HEALTHCHECK") for line in dockerfile)


def test_the_runtime_requirements_carry_no_dev_tools():
    runtime = (ROOT / "requirements.txt").read_text().lower()
    for tool in ("honcho", "pytest", "schemathesis", "playwright"):
        assert tool not in runtime, tool


def test_the_healthcheck_script_says_unhealthy_when_nothing_answers():
    assert healthcheck.main(["healthcheck", "http", "http://127.0.0.1:9/v1/health"]) == 1
    assert healthcheck.main(["healthcheck", "nonsense"]) == 2


def test_worker_and_scheduler_healthchecks_read_their_registrations(monkeypatch, settings, redis_conn):
    from rq import Worker
    from rq_scheduler import Scheduler

    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    redis_conn.flushdb()
    assert not healthcheck.worker_ok() and not healthcheck.scheduler_ok()
    worker = Worker(["default"], connection=redis_conn)
    worker.register_birth()
    scheduler = Scheduler(connection=redis_conn)
    scheduler.register_birth()
    try:
        assert healthcheck.worker_ok() and healthcheck.scheduler_ok()
        scheduler.register_death()
        assert not healthcheck.scheduler_ok()
    finally:
        worker.register_death()
        redis_conn.flushdb()


def test_first_install_shows_progress(tmp_path):
    """`make run` on a fresh clone: pip says what it installs instead of minutes of silence."""
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    dry = subprocess.run(["make", "-n", "-C", str(repo), f"VENV={tmp_path / 'venv'}", "venv"],
                         capture_output=True, text=True, check=True).stdout
    installs = [line for line in dry.splitlines() if "pip install" in line and "requirements" in line]
    assert installs, dry
    assert all("--quiet" not in line and "-q " not in line and "--progress-bar on" in line for line in installs)
