"""Run wrk with pre-built requests and read its report (requests/s, p50, p99, errors)."""
from __future__ import annotations

import os
import re
import statistics
import subprocess
from dataclasses import dataclass, field

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua", "replay.lua")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    command: str


@dataclass
class WrkResult:
    runs: list[WrkRun] = field(default_factory=list)

    def _median_run(self) -> WrkRun:
        ordered = sorted(self.runs, key=lambda r: r.rps)
        return ordered[len(ordered) // 2]

    def summary(self) -> dict:
        """Medians over the repeats (each figure its own median), plus every run for the record."""
        return {
            "rps": round(statistics.median(r.rps for r in self.runs), 1),
            "p50_ms": round(statistics.median(r.p50_ms for r in self.runs), 3),
            "p99_ms": round(statistics.median(r.p99_ms for r in self.runs), 3),
            "errors": sum(r.non_2xx + r.socket_errors for r in self.runs),
            "requests": sum(r.requests for r in self.runs),
            "command": self.runs[0].command if self.runs else None,
            "runs": [{"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "non_2xx": r.non_2xx,
                      "socket_errors": r.socket_errors} for r in self.runs],
        }


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str, command: str = "") -> WrkRun:
    """Read one `wrk --latency` report."""
    def grab(pattern, default=None):
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            if default is None:
                raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
            return default
        return match.groups()

    (rps,) = grab(r"^Requests/sec:\s+([\d.]+)")
    (p50,) = grab(r"^\s+50%\s+(\S+)")
    (p99,) = grab(r"^\s+99%\s+(\S+)")
    (requests,) = grab(r"^\s+(\d+) requests in")
    (non_2xx,) = grab(r"Non-2xx or 3xx responses: (\d+)", ("0",))
    sock = grab(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", ("0", "0", "0", "0"))
    return WrkRun(rps=float(rps), p50_ms=_ms(p50), p99_ms=_ms(p99), requests=int(requests),
                  non_2xx=int(non_2xx), socket_errors=sum(int(x) for x in sock), command=command)


def write_requests(path: str, raw_requests: list[bytes]) -> str:
    """The file replay.lua cycles through: raw HTTP requests separated by NUL bytes."""
    with open(path, "wb") as f:
        for raw in raw_requests:
            f.write(raw + b"\0")
    return path


def raw_request(method: str, host: str, path: str, headers: dict | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run(url: str, requests_file: str, *, duration: float, connections: int, threads: int = 1,
        timeout: str = "5s", unique_ids: bool = False) -> WrkRun:
    cmd = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
           f"--timeout={timeout}", "-s", LUA, url, "--", requests_file, str(threads)]
    cmd += ["unique"] if unique_ids else []
    command = " ".join(cmd)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse(proc.stdout, command)


def measure(url: str, requests_file: str, *, warmup: float, duration: float, repeats: int,
            connections: int, threads: int = 1, timeout: str = "5s", unique_ids: bool = False) -> WrkResult:
    """One discarded warm-up run, then `repeats` measured runs."""
    if warmup > 0:
        run(url, requests_file, duration=warmup, connections=connections, threads=threads, timeout=timeout,
            unique_ids=unique_ids)
    result = WrkResult()
    for _ in range(repeats):
        result.runs.append(run(url, requests_file, duration=duration, connections=connections,
                               threads=threads, timeout=timeout, unique_ids=unique_ids))
    return result
