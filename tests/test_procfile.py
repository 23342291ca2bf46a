"""The Heroku-style Procfile deploys: each line, exactly as written, started by honcho with PORT set.

Heroku routes HTTP only to `web` and hands it $PORT; one app per service, chosen by BILLING_SERVICE.
`make run` starts Procfile.dev instead (every process on its fixed port).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.support.live import REPO, free_port

pytestmark = pytest.mark.reliability
HONCHO = os.path.join(os.path.dirname(sys.executable), "honcho")


def _procfile(name: str) -> dict[str, str]:
    with open(os.path.join(REPO, name)) as f:
        return dict(line.split(": ", 1) for line in f.read().splitlines() if line and not line.startswith("#"))


def _env(settings, **extra) -> dict:
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2",
           # The installed commands first, as on a Heroku dyno (and under `make`).
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""), **extra}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR_BASE", None)
    return env


def _start(process: str, env: dict, log_path) -> subprocess.Popen:
    return subprocess.Popen([HONCHO, "start", "-f", "Procfile", "--no-prefix", process], cwd=REPO, env=env,
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass  # already gone
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_the_procfile_has_the_process_types_heroku_expects():
    lines = _procfile("Procfile")
    assert set(lines) == {"release", "web", "worker", "scheduler"}
    assert "$PORT" in lines["web"].replace("${PORT", "$PORT") and "wsgi:app" in lines["web"]
    assert lines["release"] == "flask --app wsgi:app db upgrade"
    assert set(_procfile("Procfile.dev")) == {"subscription", "payment", "worker", "scheduler", "dashboard"}


@pytest.mark.parametrize("service", ["subscription", "payment"])
def test_web_serves_the_service_named_by_billing_service_on_port(settings, _schema, tmp_path, service):
    port = free_port()
    proc = _start("web", _env(settings, PORT=str(port), BILLING_SERVICE=service), tmp_path / "web.log")
    try:
        deadline, answer = time.monotonic() + 40, None
        while time.monotonic() < deadline and answer is None:
            assert proc.poll() is None, (tmp_path / "web.log").read_text()
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or building the app on a busy box
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200, (tmp_path / "web.log").read_text()
        assert answer.json()["service"] == f"{service}-service"
    finally:
        _stop(proc)
    assert f"Listening at: http://127.0.0.1:{port}" in (tmp_path / "web.log").read_text()


def test_release_migrates_and_exits(settings, _schema, tmp_path):
    proc = _start("release", _env(settings), tmp_path / "release.log")
    assert proc.wait(timeout=60) == 0, (tmp_path / "release.log").read_text()


@pytest.mark.parametrize("process", ["worker", "scheduler"])
def test_worker_and_scheduler_start_and_stay_up(settings, _schema, tmp_path, process):
    proc = _start(process, _env(settings, BILLING_SERVICE="payment"), tmp_path / f"{process}.log")
    try:
        time.sleep(6)
        assert proc.poll() is None, (tmp_path / f"{process}.log").read_text()
    finally:
        _stop(proc)


def test_an_unknown_billing_service_is_refused_by_name():
    out = subprocess.run([sys.executable, "-c", "import wsgi; wsgi.app"], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "BILLING_SERVICE": "billing"})
    assert out.returncode != 0 and "BILLING_SERVICE='billing'" in out.stderr
