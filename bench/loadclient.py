"""A small asyncio HTTP/1.1 keep-alive client for the flows wrk cannot script (payments end to end).

It costs far less CPU per request than `requests` (which matters when the load
generator shares two cores with the servers), and it times each request from the
moment it is written to the moment its body is read, excluding any wait for a free
connection, so the latencies are the server's plus one loopback round trip.
"""
from __future__ import annotations

import asyncio
import json
import time


class Response:
    __slots__ = ("status", "body", "latency", "headers")

    def __init__(self, status: int, body: bytes, latency: float, headers: dict | None = None):
        self.status, self.body, self.latency, self.headers = status, body, latency, headers or {}

    def json(self):
        return json.loads(self.body) if self.body else None


class Pool:
    def __init__(self, host: str, port: int, size: int):
        self.host, self.port = host, port
        self._idle: asyncio.Queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(size)

    async def _connect(self):
        return await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, headers: dict | None = None, body: dict | None = None,
                      timeout: float = 30) -> Response:
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        async with self._slots:
            conn = self._idle.get_nowait() if not self._idle.empty() else await self._connect()
            try:
                started = time.perf_counter()
                conn[1].write(raw)
                status, data, keep, headers = await asyncio.wait_for(self._read(conn[0]), timeout)
                latency = time.perf_counter() - started
            except BaseException:
                conn[1].close()
                raise
            if keep:
                self._idle.put_nowait(conn)
            else:
                conn[1].close()
            return Response(status, data, latency, headers)

    @staticmethod
    async def _read(reader: asyncio.StreamReader):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await reader.readexactly(int(headers.get("content-length", "0")))
        keep = headers.get("connection", "").lower() != "close"
        return status, data, keep, headers

    async def close(self):
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()


async def offer(items, rate: float, one) -> tuple[list[asyncio.Task], float, float]:
    """Open loop: start one(item) for each item at `rate` per second, whatever the server's pace.

    (the tasks, when the first was started, when the last was), times from time.monotonic().
    """
    start = time.monotonic()
    tasks = []
    for i, item in enumerate(items):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(item)))
    return tasks, start, time.monotonic()
