"""A whole deployment on loopback for reliability tests: a private PostgreSQL cluster and
Redis (so they can be stopped and killed without touching anyone else's), both services
under gunicorn, RQ workers and the scheduler, each a real process that can be SIGKILLed.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

from tests.support.live import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
# What the crash suites pay with, and the settings that make recovery take seconds, not minutes.
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
FAST_RECOVERY = {"PAYMENTS_STUCK_AFTER_SECONDS": "5", "GATEWAY_ANSWER_REDELIVER_AFTER_SECONDS": "5",
                 "OUTBOX_BACKOFF_BASE_SECONDS": "0.5", "USAGE_SYNC_INTERVAL_SECONDS": "1"}


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s (last error: {last!r})")


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                                                   reverse=True)), None)
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL server binaries")
    return found


class PrivatePostgres:
    def __init__(self, workdir: str):
        self.dir = os.path.join(workdir, "pg")
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        os.makedirs(self.dir)
        if self.as_user:
            shutil.chown(workdir, "postgres")
            shutil.chown(self.dir, "postgres")
        subprocess.run([*self.as_user, _pg_bin("initdb"), "-D", self.dir, "-U", "postgres", "--auth=trust",
                        "-N"], check=True, stdout=subprocess.DEVNULL)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/billing"

    def start(self):
        subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", self.dir, "-l", self.dir + ".log", "-w", "-o",
                        f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c max_connections=200", "start"], check=True, stdout=subprocess.DEVNULL)

    def stop(self, mode: str = "fast"):
        subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", self.dir, "-m", mode, "-w", "stop"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def create_database(self):
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE billing")
        conn.close()


class PrivateRedis:
    def __init__(self, workdir: str):
        self.port = free_port()
        self.dir = workdir
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), 0.2), 10, "redis up")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Stack:
    """Both services, workers and the scheduler, against private PostgreSQL and Redis."""

    def __init__(self, extra_env: dict | None = None, workers: int = 1):
        self.workdir = tempfile.mkdtemp(prefix="billing-stack-")
        os.chmod(self.workdir, 0o777)
        self.pg = PrivatePostgres(self.workdir)
        self.redis = PrivateRedis(self.workdir)
        self.sub_port, self.pay_port = free_port(), free_port()
        self.sub_url = f"http://127.0.0.1:{self.sub_port}"
        self.pay_url = f"http://127.0.0.1:{self.pay_port}"
        self.env = {**os.environ, "DATABASE_URL": self.pg.url, "REDIS_URL": self.redis.url,
                    "SUBSCRIPTION_SERVICE_URL": self.sub_url, "PAYMENT_SERVICE_URL": self.pay_url,
                    "BCRYPT_ROUNDS": "4", "GATEWAY_MIN_DELAY_MS": "200", "GATEWAY_MAX_DELAY_MS": "600",
                    "GATEWAY_SUCCESS_RATE": "1.0", "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4",
                    "FLASK_APP": "wsgi:subscription_app", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING",
                    **(extra_env or {})}
        self.procs: dict[str, subprocess.Popen] = {}
        self.n_workers = workers

    # -- processes -------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]):
        log = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self.procs[name]

    def _flask(self, *args):
        subprocess.run([os.path.join(BIN, "flask"), *args], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def start(self):
        self.pg.start()
        self.pg.create_database()
        self.redis.start()
        self._flask("db", "upgrade")
        self._flask("seed")
        gunicorn = self.gunicorn
        self._spawn("subscription", [gunicorn, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.sub_port}",
                                     "wsgi:subscription_app"])
        self._spawn("payment", [gunicorn, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.pay_port}",
                                "wsgi:payment_app"])
        for i in range(self.n_workers):
            self.start_worker(f"worker{i}")
        self.start_scheduler()
        for url in (self.sub_url, self.pay_url):
            wait_until(lambda u=url: requests.get(u + "/v1/health/detailed", timeout=2).status_code == 200, 30,
                       f"{url} healthy")
        return self

    @property
    def gunicorn(self) -> str:
        return os.path.join(BIN, "gunicorn")

    def start_worker(self, name: str = "worker0"):
        return self._spawn(name, [os.path.join(BIN, "flask"), "rq", "worker", "--name", f"{name}-{time.time_ns()}"])

    def start_scheduler(self):
        return self._spawn("scheduler", [os.path.join(BIN, "flask"), "rq", "scheduler"])

    def kill(self, name: str, sig: int = signal.SIGKILL):
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)

    def log(self, name: str) -> str:
        with open(os.path.join(self.workdir, f"{name}.log"), errors="replace") as fh:
            return fh.read()

    def stop(self):
        for name in list(self.procs):
            try:
                self.kill(name, signal.SIGTERM)
            except Exception:  # noqa: BLE001
                self.kill(name)
        self.redis.stop()
        self.pg.stop("immediate")
        if os.environ.get("KEEP_STACK_LOGS"):  # to read the services' logs after a failed run
            print(f"stack logs kept in {self.workdir}")
            return
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- HTTP helpers ----------------------------------------------------------------------
    def login(self, email="admin@test.com", password="password123") -> dict:
        r = requests.post(self.sub_url + "/v1/auth/login", json={"email": email, "password": password}, timeout=5)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def register(self, email: str, password: str = "password123") -> dict:
        r = requests.post(self.sub_url + "/v1/auth/register", json={"email": email, "password": password},
                          timeout=5)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}
