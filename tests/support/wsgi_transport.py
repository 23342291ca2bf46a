"""Route outgoing HTTP calls to in-process Flask apps, so the fast suite runs both real
services end to end (tokenise, charge requests, outbox webhooks) without gunicorn.

Only our own two services are routed this way; nothing is mocked: each call goes through
the real app, its real routing, auth, signature checks, database and Redis.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict


class FlaskAdapter(requests.adapters.BaseAdapter):
    def __init__(self, app):
        super().__init__()
        self.app = app
        self.calls: list[tuple[str, str, int]] = []

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        body = request.body.encode() if isinstance(request.body, str) else request.body
        resp = self.app.test_client().open(path=url.path, query_string=url.query, method=request.method,
                                           headers=headers, data=body)
        self.calls.append((request.method, url.path, resp.status_code))
        out = requests.Response()
        out.status_code = resp.status_code
        out._content = resp.get_data()
        out.headers = CaseInsensitiveDict(dict(resp.headers))
        out.url = request.url
        out.request = request
        out.reason = resp.status
        return out

    def close(self):
        pass
