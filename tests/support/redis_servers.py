"""Throwaway redis-server processes for tests: a standalone server and a 3-node cluster,
on loopback ports only, in a temporary directory, stopped by their own process handles."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import time

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None or REDIS_CLI is None,
    reason="redis-server/redis-cli not installed (apt-get install redis-server); cannot start a private Redis")


def _wait(check, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.exceptions.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _start(port: int, workdir, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--protected-mode", "yes", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(processes) -> None:
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """One private redis-server without persistence: a restart loses everything, as a crash would."""

    def __init__(self, port: int, workdir):
        self.port, self.workdir, self.proc = port, workdir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> "Server":
        self.proc = _start(self.port, self.workdir)
        client = redis.Redis(host="127.0.0.1", port=self.port)
        _wait(client.ping, f"redis-server on {self.port}")
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop([self.proc])
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def standalone(port: int, workdir):
    server = Server(port, workdir).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def cluster(ports, workdir):
    procs = [_start(p, workdir, "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{p}.conf",
                    "--cluster-node-timeout", "2000") for p in ports]
    try:
        for p in ports:
            client = redis.Redis(host="127.0.0.1", port=p)
            _wait(client.ping, f"cluster node {p}")
            client.close()
        subprocess.run([REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)

        def all_ok():
            for p in ports:
                with redis.Redis(host="127.0.0.1", port=p) as node:
                    if node.cluster("info").get("cluster_state") != "ok":
                        return False
            return True

        _wait(all_ok, "cluster_state:ok", timeout=20)
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        _stop(procs)
