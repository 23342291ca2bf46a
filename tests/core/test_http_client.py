"""core.http: a pooled connection the other side closed while idle costs no failed delivery."""
from __future__ import annotations

import http.server
import threading

import pytest

from core import http as billing_http

pytestmark = pytest.mark.reliability


class _ClosesAfterEachAnswer(http.server.BaseHTTPRequestHandler):
    """Answers the first request of a keep-alive connection; the next one on it meets a close with no
    answer, as when the server's idle timeout fires just as the client reuses the connection."""
    protocol_version = "HTTP/1.1"
    seen: list = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if getattr(self, "answered", False):
            self.close_connection = True  # dropped unanswered: never counted as seen
            return
        self.answered = True
        type(self).seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _ClosesAfterEachAnswer.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ClosesAfterEachAnswer)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_a_connection_closed_while_idle_is_retried_once_on_a_fresh_one(app, server, monkeypatch):
    monkeypatch.setattr(billing_http, "_local", threading.local())  # a session of this test's own
    with app.app_context():
        answers = [billing_http.signed_post(f"{server}/hook/{i}", b"{}").status_code for i in range(3)]
    assert answers == [200, 200, 200]
    assert _ClosesAfterEachAnswer.seen == ["/hook/0", "/hook/1", "/hook/2"]  # each sent, none twice


def test_other_connection_errors_are_not_retried(app, monkeypatch):
    import requests
    calls = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(billing_http.session(), "request", refuse)
    with app.app_context(), pytest.raises(requests.ConnectionError):
        billing_http.service_request("GET", "http://127.0.0.1:9/nothing")
    assert calls == [1]
