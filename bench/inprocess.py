"""CPU per request in-process, without gunicorn or wrk: the ceilings, `use` and `me`, and what each piece
of `use` costs (measured by taking it out).

    python -m bench.inprocess [--rounds 12] [--block 400]

Uses the bench database and Redis db (BENCH_DATABASE_URL, BENCH_REDIS_URL; emptied and seeded like
`make bench` does). Every configuration runs in alternating blocks of requests through Flask's test
client and keeps its fastest block (time.process_time(): this process's CPU only), so drift on a shared
machine cancels out. The test client adds the same ~0.1 ms to every figure: compare differences, not
these figures with `make bench`'s cpu ms/req.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def _blocks(configs: dict, call, rounds: int, block: int) -> dict[str, float]:
    """Fastest block's CPU ms per request, per configuration; configs map name -> (enter, leave)."""
    for _ in range(block):
        call(next(iter(configs)))
    best = {name: float("inf") for name in configs}
    for _ in range(rounds):
        for name, (enter, leave) in configs.items():
            enter()
            started = time.process_time()
            for _ in range(block):
                call(name)
            best[name] = min(best[name], (time.process_time() - started) / block * 1000)
            leave()
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--block", type=int, default=400)
    args = p.parse_args(argv)
    from bench import fixtures

    os.environ.update(fixtures.inprocess_env())
    from bench import baseline_apps
    from core.extensions import jwt
    from core.settings import load_settings

    settings = load_settings()
    sub, token = fixtures.one_subscriber(settings, "inprocess")
    auth = {"Authorization": f"Bearer {token}"}
    routes = {
        "jwt_evalsha (ceiling)": (baseline_apps.BUILDERS["jwt_evalsha"](settings), "POST", "/evalsha", {}),
        "jwt_pg (ceiling)": (baseline_apps.BUILDERS["jwt_pg"](settings), "GET", "/pg", None),
        "use": (sub, "POST", "/v1/usage/features/api_calls/use", {"delta": 1}),
        "me": (sub, "GET", "/v1/auth/me", None),
    }
    clients = {name: app.test_client() for name, (app, *_) in routes.items()}

    def call(name):
        _, method, path, body = routes[name]
        response = clients[name].open(path, method=method, json=body, headers=auth)
        assert response.status_code == 200, (name, response.status_code, response.get_data()[:200])

    noop = (lambda: None, lambda: None)
    print("CPU ms per request, in-process:")
    for name, ms in _blocks({name: noop for name in routes}, call, args.rounds, args.block).items():
        print(f"  {name:24s} {ms:.3f}")

    # What each piece of `use` costs: the same route with that piece taken out.
    after = list(sub.after_request_funcs[None])
    revocation = jwt._token_in_blocklist_callback

    def without_hook(fragment):
        kept = [f for f in after if fragment not in str(getattr(f, "__qualname__", f))]
        return (lambda: sub.after_request_funcs.__setitem__(None, kept),
                lambda: sub.after_request_funcs.__setitem__(None, list(after)))

    def no_revocation():
        jwt._token_in_blocklist_callback = lambda header, payload: False

    def restore_revocation():
        jwt._token_in_blocklist_callback = revocation

    pieces = {"use": noop, "access log line": without_hook("_log_request"),
              "request metrics": without_hook("_observe"),
              "X-Request-ID header": without_hook("_return_request_id"),
              "revocation check": (no_revocation, restore_revocation)}
    for route in ("use", "me"):
        best = _blocks({route if name == "use" else name: piece for name, piece in pieces.items()},
                       lambda _: call(route), args.rounds, args.block)
        print(f"`{route}` without each piece (the difference is what it costs):")
        for name, ms in best.items():
            print(f"  {name:24s} {ms:.3f}" + ("" if name == route else f"   {best[route] - ms:+.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
