"""Cost per request in-process (Flask's test client, no gunicorn or wrk): CPU time, or instructions.

    python -m bench.profile [--routes use,me,jwt_evalsha,jwt_pg,events] [--pieces] [--rounds 12] [--block 400]
    python -m bench.profile --callgrind [--routes ...] [--pieces]

Default: every route runs in alternating blocks of requests and keeps its fastest block
(time.process_time(): this process's CPU only), so drift on a shared machine cancels out.
--callgrind: each configuration runs in a child under valgrind's callgrind; after a warm-up,
counting is switched on for N requests only, N = 100 and N = 300, and the difference / 200
is the figure, so start-up cancels out and the count is the same on a busy box.
--pieces: `use` and `me` are also run with one per-request piece taken out at a time (the
access log line, request metrics, the X-Request-ID header, the token revocation check); the
difference is what that piece costs. PostgreSQL, Redis and the kernel are not counted.

Uses the bench database and Redis db (BENCH_DATABASE_URL, BENCH_REDIS_URL; emptied and seeded
like `make bench` does). See bench/README.md.
"""
from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench import baseline_apps, fixtures
from core import tokens
from core.extensions import jwt
from core.settings import load_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIECES = {"access log line": "_log_request", "request metrics": "_observe",
          "X-Request-ID header": "_return_request_id", "revocation check": "revocation"}
ROUTES = {"use": ("POST", "/v1/usage/features/api_calls/use", {"delta": 1}),
          "me": ("GET", "/v1/auth/me", None),
          "jwt_evalsha": ("POST", "/evalsha", {}), "jwt_pg": ("GET", "/pg", None), "jwt": ("GET", "/jwt", None),
          # A 100-event batch of fresh ids over 64 customers, with an API key (bench/usage_events.py).
          "events": ("POST", "/v1/usage/events", None)}
WARMUP = 200


def _env() -> dict:
    # Under valgrind a run outlives the default entitlement TTL: a refresh would land inside the count.
    return {**fixtures.inprocess_env(), "USAGE_ENTITLEMENT_TTL_SECONDS": "3600"}


class Target:
    """One route of one app, with its per-request pieces that can be taken out and put back."""

    def __init__(self, route: str, sub, settings, token: str):
        self.route, self.sub = route, sub
        self.app = sub if route in ("use", "me", "events") else baseline_apps.BUILDERS[route](settings)
        self.method, self.path, body = ROUTES[route]
        self.body = lambda: body
        self.headers = {"Authorization": f"Bearer {token}"}
        if route == "events":
            self._events_sender(sub)
        self.client = self.app.test_client()
        self._after = list(sub.after_request_funcs[None])

    def _events_sender(self, sub) -> None:
        # Imported here like every app module of this tool: only once _env() has chosen the bench settings.
        from bench import fixtures, usage_events
        from core import clock
        from subscription_app.seed import ENTERPRISE_MONTHLY_ID

        users = fixtures.create_users(sub, f"events-{os.getpid()}", 64, subscribed_plan_id=ENTERPRISE_MONTHLY_ID)
        self.headers = {"X-Api-Key": usage_events.create_api_key(sub)}
        at, sent = clock.utcnow().isoformat(), itertools.count()

        def batch():
            n = next(sent)
            return usage_events.batch(users, n, at, ids=f"{os.getpid()}-{n}")  # fresh ids: no duplicates

        self.body = batch

    def call(self) -> None:
        response = self.client.open(self.path, method=self.method, json=self.body(), headers=self.headers)
        assert response.status_code == 200, (self.route, response.status_code, response.get_data()[:200])

    def without(self, piece: str) -> None:
        """Take one piece out ("" puts everything back)."""
        jwt.token_in_blocklist_loader(_never_revoked if piece == "revocation" else tokens._is_revoked)
        self.sub.after_request_funcs[None] = [f for f in self._after if not piece or piece not in _name(f)]


def _never_revoked(header, payload) -> bool:
    return False


def _name(hook) -> str:
    return str(getattr(hook, "__qualname__", hook))


def _setup():
    os.environ.update(_env())

    settings = load_settings()
    sub, token = fixtures.one_subscriber(settings, "profile")
    return settings, sub, token


def _configurations(routes: list[str], pieces: bool) -> list[tuple[str, str]]:
    configs = [(route, "") for route in routes]
    if pieces:
        configs += [(route, hook) for route in ("use", "me") for hook in PIECES.values()]
    return configs


def _label(route: str, piece: str) -> str:
    name = next((n for n, hook in PIECES.items() if hook == piece), "")
    return f"{route} without {name}" if piece else route


def cpu_ms(routes: list[str], pieces: bool, rounds: int, block: int) -> dict[tuple[str, str], float]:
    """Fastest block's CPU ms per request, per (route, piece taken out), in alternating blocks."""
    settings, sub, token = _setup()
    targets = {route: Target(route, sub, settings, token) for route in set(routes) | ({"use", "me"} if pieces else set())}
    configs = _configurations(routes, pieces)
    for target in targets.values():
        for _ in range(WARMUP):
            target.call()
    best = {config: float("inf") for config in configs}
    for _ in range(rounds):
        for route, piece in configs:
            target = targets[route]
            target.without(piece)
            started = time.process_time()
            for _ in range(block):
                target.call()
            best[(route, piece)] = min(best[(route, piece)], (time.process_time() - started) / block * 1000)
            target.without("")
    return best


def _child(route: str, count: int, piece: str) -> None:
    """Runs under valgrind: warm up, then count `count` requests of `route` with `piece` taken out."""
    settings = load_settings()
    sub, _ = fixtures.build_apps(settings)
    fixtures.quiet_logging(settings)
    target = Target(route, sub, settings, os.environ["BENCH_PROFILE_TOKEN"])
    target.without(piece)
    for _ in range(WARMUP):
        target.call()
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], stdout=subprocess.DEVNULL, check=True)
    for _ in range(count):
        target.call()
    subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], stdout=subprocess.DEVNULL, check=True)


def _collected(route: str, count: int, piece: str, env: dict, workdir: str) -> int:
    out = os.path.join(workdir, f"callgrind.{route}.{count}.{piece or 'all'}")
    run = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                          sys.executable, "-m", "bench.profile", "--child", route, str(count), piece or "-"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or not found:
        raise RuntimeError(f"{_label(route, piece)} failed under valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def instructions(routes: list[str], pieces: bool) -> dict[tuple[str, str], float]:
    """Millions of instructions per request, per (route, piece taken out)."""
    _, _, token = _setup()
    env = {**os.environ, "BENCH_PROFILE_TOKEN": token}
    out = {}
    with tempfile.TemporaryDirectory() as workdir:
        for route, piece in _configurations(routes, pieces):
            counts = [_collected(route, n, piece, env, workdir) for n in (100, 300)]
            out[(route, piece)] = (counts[1] - counts[0]) / 200 / 1e6
            print(f"  {_label(route, piece):40s} {out[(route, piece)]:.3f}", flush=True)
    return out


def _print(figures: dict[tuple[str, str], float], unit: str) -> None:
    print(f"{unit} per request, in-process:")
    for (route, piece), value in figures.items():
        whole = figures.get((route, ""))
        delta = f"   {whole - value:+.3f}" if piece and whole is not None else ""
        print(f"  {_label(route, piece):40s} {value:.3f}{delta}")


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, route, count, piece = sys.argv
        _child(route, int(count), "" if piece == "-" else piece)
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--routes", default="use,me,jwt_evalsha,jwt_pg")
    p.add_argument("--pieces", action="store_true", help="also use and me without each per-request piece")
    p.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead of CPU time")
    p.add_argument("--rounds", type=int, default=12, help="CPU time: alternating rounds")
    p.add_argument("--block", type=int, default=400, help="CPU time: requests per block")
    args = p.parse_args(argv)
    routes = [r for r in args.routes.split(",") if r]
    unknown = set(routes) - set(ROUTES)
    if unknown:
        p.error(f"unknown routes {sorted(unknown)}; known: {', '.join(ROUTES)}")
    if args.callgrind:
        missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
        if missing:
            print(f"[profile] {', '.join(missing)} not found: apt-get install valgrind", file=sys.stderr)
            return 2
        _print(instructions(routes, args.pieces), "M instructions (callgrind)")
    else:
        _print(cpu_ms(routes, args.pieces, args.rounds, args.block), "CPU ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
