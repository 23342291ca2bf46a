"""Real processes for the slow tests: both services under gunicorn plus rq-dashboard, and an RQ
worker (`live_worker`) for tests whose requests finish in jobs. The services know each other's URLs.

They run on the test database and test Redis db (the same ones the in-process tests use,
schema built by the `_schema` fixture) on free loopback ports, unless
TEST_SUBSCRIPTION_PORT / TEST_PAYMENT_PORT / TEST_DASHBOARD_PORT say otherwise. Each
process's output goes to tests/artifacts/<name>.log for post-mortems.
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(REPO, "tests", "artifacts")
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveStack:
    subscription_url: str
    payment_url: str
    dashboard_url: str
    dashboard_user: str
    dashboard_password: str
    processes: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)

    def register_and_login(self, email: str, password: str = "browser-pass-1") -> str:
        requests.post(f"{self.subscription_url}/v1/auth/register", json={"email": email, "password": password},
                      timeout=10)
        r = requests.post(f"{self.subscription_url}/v1/auth/login", json={"email": email, "password": password},
                          timeout=10)
        r.raise_for_status()
        return r.json()["access_token"]


def _wait_until_up(url: str, proc: subprocess.Popen, name: str, auth=None, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see tests/artifacts/{name}.log")
        try:
            if requests.get(url, auth=auth, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} not up after {timeout}s; see tests/artifacts/{name}.log")


@pytest.fixture(scope="module")
def live_stack(settings, _schema, tmp_path_factory):
    os.makedirs(ARTIFACTS, exist_ok=True)
    ports = {name: int(os.environ.get(f"TEST_{name.upper()}_PORT") or free_port())
             for name in ("subscription", "payment", "dashboard")}
    password = secrets.token_urlsafe(16)
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "BCRYPT_ROUNDS": "4", "LOG_FORMAT": "json", "RQ_DASHBOARD_USERNAME": "ops",
           "RQ_DASHBOARD_PASSWORD": password, "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("prometheus")),
           "GATEWAY_MIN_DELAY_MS": "0", "GATEWAY_MAX_DELAY_MS": "0", "GATEWAY_SUCCESS_RATE": "1.0",
           "SUBSCRIPTION_SERVICE_URL": f"http://127.0.0.1:{ports['subscription']}",
           "PAYMENT_SERVICE_URL": f"http://127.0.0.1:{ports['payment']}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR_BASE", None)
    commands = {
        "subscription": ["--bind", f"127.0.0.1:{ports['subscription']}", "wsgi:subscription_app"],
        "payment": ["--bind", f"127.0.0.1:{ports['payment']}", "wsgi:payment_app"],
        "dashboard": ["--workers", "1", "--bind", f"127.0.0.1:{ports['dashboard']}", "wsgi:dashboard_app"],
    }
    stack = LiveStack(f"http://127.0.0.1:{ports['subscription']}", f"http://127.0.0.1:{ports['payment']}",
                      f"http://127.0.0.1:{ports['dashboard']}", "ops", password, env=env)
    logs = []
    try:
        for name, args in commands.items():
            log = open(os.path.join(ARTIFACTS, f"{name}.log"), "w")
            logs.append(log)
            stack.processes[name] = subprocess.Popen([GUNICORN, "-c", "gunicorn.conf.py", *args], cwd=REPO, env=env,
                                                     stdout=log, stderr=subprocess.STDOUT)
        _wait_until_up(f"{stack.subscription_url}/v1/health", stack.processes["subscription"], "subscription")
        _wait_until_up(f"{stack.payment_url}/v1/health", stack.processes["payment"], "payment")
        _wait_until_up(f"{stack.dashboard_url}/", stack.processes["dashboard"], "dashboard", auth=("ops", password))
        yield stack
    finally:
        for proc in stack.processes.values():
            proc.terminate()
        for proc in stack.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


@pytest.fixture
def live_worker(live_stack, app):
    """An RQ worker for the live stack (charges, refunds and the services' webhooks run in jobs).

    Per test and after `app`, so it stops before `app` empties the tables: a worker between jobs may
    hold a read transaction that TRUNCATE would wait on."""
    log = open(os.path.join(ARTIFACTS, "worker.log"), "w")
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    proc = subprocess.Popen([flask, "--app", "wsgi:subscription_app", "rq", "worker"], cwd=REPO,
                            env=live_stack.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
