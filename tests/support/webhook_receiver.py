"""An integrator's receiver on a loopback port: verifies every POST with the reference
`standardwebhooks` package, as integrators do, and records what verified with which secret."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, port: int = 0, host: str = "127.0.0.1", ssl_context=None):
        """Plain HTTP on 127.0.0.1 by default; with an ssl_context, https (its url names the address)."""
        self.secrets: list[str] = []
        self.received: list[dict] = []
        self.status, self.delay, self.body = 200, 0.0, b"ok"
        self._port, self._host, self._ssl = port, host, ssl_context
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.record(body, {k.lower(): v for k, v in self.headers.items()})
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self._host, self._port), Handler)
        if self._ssl is not None:
            self.server.socket = self._ssl.wrap_socket(self.server.socket, server_side=True)
        self._port = self.server.server_address[1]
        self.port = self._port
        self.url = f"{'https' if self._ssl else 'http'}://{self._host}:{self._port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, body: bytes, headers: dict) -> None:
        verified_by = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified_by.append(secret)
            except WebhookVerificationError:
                pass
        self.received.append({"id": headers.get("webhook-id"), "event": json.loads(body), "headers": headers,
                              "verified_by": verified_by})

    def verified(self, event_type: str | None = None) -> list[dict]:
        return [r for r in self.received if r["verified_by"] and (event_type is None or
                                                                   r["event"]["type"] == event_type)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
