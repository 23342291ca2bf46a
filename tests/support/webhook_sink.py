"""A tiny HTTP server on loopback that records what is POSTed to it (a stand-in receiver).

A POST to a path ending in /batch ({"events": [...]}, the outbox's batch delivery) is recorded as one
request per event, at the single-event path, and answered with one result per event."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink:
    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = b"{}"
                if self.path.endswith("/batch"):
                    events = json.loads(body)["events"]
                    for event in events:
                        sink.requests.append({"path": self.path[:-len("/batch")], "headers": dict(self.headers),
                                              "body": json.dumps(event).encode()})
                    answer = json.dumps({"results": [{"event_id": e.get("event_id"), "status": sink.status}
                                                     for e in events]}).encode()
                else:
                    sink.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
