#!/usr/bin/env python3
"""Container healthchecks (Dockerfile HEALTHCHECK, docker-compose `healthcheck`), standard library + redis only.

    python -m scripts.healthcheck http http://127.0.0.1:8001/v1/health   # a web process answers 200
    python -m scripts.healthcheck worker                                 # an RQ worker of this host is registered
    python -m scripts.healthcheck scheduler                              # a live rq-scheduler instance is registered

Exit 0 when healthy, 1 otherwise (what Docker reads).
"""
from __future__ import annotations

import os
import socket
import sys
import urllib.request


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310 - a URL the image itself names
            return answer.status == 200
    except OSError:
        return False


def _redis():
    # Each check imports only what it needs: Docker runs the http one every few seconds, and rq costs ~0.1 s.
    import redis
    return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=3)


def worker_ok() -> bool:
    from rq import Worker  # only this check needs rq (see _redis)
    return any(w.hostname == socket.gethostname() for w in Worker.all(connection=_redis()))


def scheduler_ok() -> bool:
    from rq_scheduler import Scheduler  # only this check needs rq-scheduler (see _redis)
    conn = _redis()
    keys = conn.scan_iter(match=Scheduler.redis_scheduler_namespace_prefix + "*", count=100)
    return any(not conn.hexists(key, "death") for key in keys)


def main(argv: list[str]) -> int:
    checks = {"http": lambda: http_ok(argv[2]), "worker": worker_ok, "scheduler": scheduler_ok}
    if len(argv) < 2 or argv[1] not in checks or (argv[1] == "http" and len(argv) < 3):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return 0 if checks[argv[1]]() else 1
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", said in one line
        print(f"unhealthy: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
