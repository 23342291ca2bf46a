"""Instructions per request in-process, counted by valgrind's callgrind: the same count on a busy box.

    python -m bench.instructions [--routes use,me,jwt_evalsha,jwt_pg] [--pieces]

Each configuration runs in a child process under `valgrind --tool=callgrind --instr-atstart=no`:
200 warm-up requests through Flask's test client, then counting is switched on (callgrind_control)
for N requests only. N = 100 and N = 300 are run and the difference / 200 is the figure, so start-up
and the switch itself cancel out. `--pieces` also runs `use` and `me` with one per-request piece
taken out at a time (the access log line, request metrics, the X-Request-ID header, the token
revocation check); the difference is what the piece costs. Kernel time (socket calls) is not counted,
nor are PostgreSQL and Redis. About 1 minute per configuration; needs valgrind (apt-get install valgrind).

Uses the bench database and Redis db (BENCH_DATABASE_URL, BENCH_REDIS_URL; emptied and seeded once,
like `make bench`). The entitlement cache TTL is raised for the children: under valgrind a run outlives
the default 30 s and a refresh (a PostgreSQL read) would land inside the count.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIECES = {"access log line": "_log_request", "request metrics": "_observe",
          "X-Request-ID header": "_return_request_id", "revocation check": "revocation"}
ROUTES = {"use": ("POST", "/v1/usage/features/api_calls/use", {"delta": 1}),
          "me": ("GET", "/v1/auth/me", None),
          "jwt_evalsha": ("POST", "/evalsha", {}), "jwt_pg": ("GET", "/pg", None), "jwt": ("GET", "/jwt", None)}


def _env() -> dict:
    from bench.fixtures import inprocess_env

    return {**os.environ, **inprocess_env(), "USAGE_ENTITLEMENT_TTL_SECONDS": "3600"}


def _child(route: str, count: int, without: str, token_file: str) -> None:
    """Runs under valgrind: warm up, count `count` requests of `route` with `without` taken out."""
    from bench import baseline_apps, fixtures
    from core.extensions import jwt
    from core.settings import load_settings

    settings = load_settings()
    sub, _ = fixtures.build_apps(settings)
    fixtures.quiet_logging(settings)
    app = sub if route in ("use", "me") else baseline_apps.BUILDERS[route](settings)
    if without == "revocation":
        jwt._token_in_blocklist_callback = lambda header, payload: False
    elif without:
        sub.after_request_funcs[None] = [f for f in sub.after_request_funcs[None]
                                         if without not in str(getattr(f, "__qualname__", f))]
    method, path, body = ROUTES[route]
    with open(token_file) as f:
        headers = {"Authorization": f"Bearer {f.read().strip()}"}
    client = app.test_client()
    for _ in range(200):
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 200, (route, response.status_code, response.get_data()[:200])
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], stdout=subprocess.DEVNULL, check=True)
    for _ in range(count):
        client.open(path, method=method, json=body, headers=headers)
    subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], stdout=subprocess.DEVNULL, check=True)


def _count(route: str, count: int, without: str, token_file: str, workdir: str) -> int:
    out = os.path.join(workdir, f"callgrind.{route}.{count}.{without or 'all'}")
    run = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                          sys.executable, "-m", "bench.instructions", "--child", route, str(count), without or "-",
                          token_file], cwd=ROOT, env=_env(), capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or not found:
        raise RuntimeError(f"{route} ({without or 'all'}) failed under valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def per_request(route: str, without: str, token_file: str, workdir: str) -> float:
    """Millions of instructions per request."""
    return (_count(route, 300, without, token_file, workdir)
            - _count(route, 100, without, token_file, workdir)) / 200 / 1e6


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, route, count, without, token_file = sys.argv
        _child(route, int(count), "" if without == "-" else without, token_file)
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--routes", default="use,me,jwt_evalsha,jwt_pg")
    p.add_argument("--pieces", action="store_true", help="also use and me without each per-request piece")
    args = p.parse_args(argv)
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"[instructions] {tool} not found: apt-get install valgrind", file=sys.stderr)
            return 2
    os.environ.update(_env())
    from bench import fixtures
    from core.settings import load_settings

    _, token = fixtures.one_subscriber(load_settings(), "instructions")
    with tempfile.TemporaryDirectory() as workdir:
        token_file = os.path.join(workdir, "token")
        with open(token_file, "w") as f:
            f.write(token)
        print("M instructions per request, in-process (callgrind):", flush=True)
        for route in [r for r in args.routes.split(",") if r]:
            print(f"  {route:32s} {per_request(route, '', token_file, workdir):.3f}", flush=True)
        if args.pieces:
            for route in ("use", "me"):
                whole = per_request(route, "", token_file, workdir)
                for name, hook in PIECES.items():
                    less = per_request(route, hook, token_file, workdir)
                    print(f"  {route} without {name:22s} {less:.3f}   {whole - less:+.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
