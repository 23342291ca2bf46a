"""Start and stop the processes a bench run needs (gunicorn, `flask rq worker`), loopback only."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _tool(name: str) -> str:
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else name


class Processes:
    """Every child is started in its own process group and ended by its own id (never by name)."""

    def __init__(self, env: dict, log_dir: str):
        self.env = env
        self.log_dir = log_dir
        self.children: list[subprocess.Popen] = []
        os.makedirs(log_dir, exist_ok=True)

    def _spawn(self, name: str, cmd: list[str], extra_env: dict | None) -> subprocess.Popen:
        log = open(os.path.join(self.log_dir, f"{name}.log"), "ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.bench_name = name  # type: ignore[attr-defined]
        proc.bench_command = " ".join(cmd)  # type: ignore[attr-defined]
        self.children.append(proc)
        return proc

    def gunicorn(self, name: str, app: str, port: int, extra_env: dict | None = None,
                 ready_path: str = "/v1/health") -> subprocess.Popen:
        """gunicorn with the project's gunicorn.conf.py (its env knobs apply), bound to loopback."""
        cmd = [_tool("gunicorn"), "-c", os.path.join(ROOT, "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", app]
        proc = self._spawn(name, cmd, extra_env)
        wait_http(f"http://127.0.0.1:{port}{ready_path}", proc)
        return proc

    def worker(self, name: str, args: list[str], extra_env: dict | None = None) -> subprocess.Popen:
        cmd = [_tool("flask"), "--app", "wsgi:subscription_app", "rq", "worker", *args]
        return self._spawn(name, cmd, extra_env)

    def scheduler(self, name: str = "rq-scheduler", extra_env: dict | None = None) -> subprocess.Popen:
        """`flask rq scheduler` as the Procfile runs it: jobs/schedule.py's periodic jobs (sweeps included)."""
        cmd = [_tool("flask"), "--app", "wsgi:subscription_app", "rq", "scheduler"]
        return self._spawn(name, cmd, extra_env)

    def stop(self, proc: subprocess.Popen, timeout: float = 15) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc in self.children:
            self.children.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.children)):
            self.stop(proc)


def wait_http(url: str, proc: subprocess.Popen | None = None, seconds: float = 40) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{getattr(proc, 'bench_name', 'process')} exited with {proc.returncode}; "
                               f"see its log under bench/out/logs")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f}s")


def _stat(pid: str):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(groups: list[int], pids: list[int] = ()) -> dict[int, float]:
    """CPU time so far of every live process in these process groups, plus these pids, by pid."""
    wanted_groups, wanted_pids = set(groups), {str(p) for p in pids}
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            pgrp, cpu = _stat(pid)
        except (OSError, IndexError, ValueError):
            continue
        if pgrp in wanted_groups or pid in wanted_pids:
            out[int(pid)] = cpu
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots (processes that started in between count from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
