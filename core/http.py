"""The one outgoing HTTP helper: pooled sessions, signed webhooks, service calls.

Every call carries the current request id (X-Request-ID) so one payment can be
followed across both services and the jobs in between.
"""
from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit

import requests
from flask import current_app

from core.logging import current_request_id
from core.security import SERVICE_TOKEN_HEADER, signature_headers

DEFAULT_TIMEOUT = (3.05, 10)
_local = threading.local()


class PinnedAddressAdapter(requests.adapters.HTTPAdapter):
    """Over https to an address (`https://203.0.113.7:443/...` with `Host: hooks.example.com`), the TLS
    name (SNI and the certificate check) is the Host header's, so a caller can connect to an address it
    resolved and checked itself and nothing resolves the name again (integrations/guard.py).

    Uses the hook requests documents for subclasses; a request without a Host header is unchanged.
    """

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        name = request.headers.get("Host")
        if host_params["scheme"] == "https" and name:
            server = urlsplit("//" + name).hostname
            pool_kwargs = {**pool_kwargs, "server_hostname": server, "assert_hostname": server}
        return host_params, pool_kwargs


def session() -> requests.Session:
    """One keep-alive session per thread (requests.Session is not thread-safe to share)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        adapter = PinnedAddressAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        _local.session = s
    return s


def encode(payload: dict) -> bytes:
    """Canonical JSON bytes: what is signed is exactly what is sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def _base_headers() -> dict:
    headers = {"Content-Type": "application/json", "User-Agent": "billing-backend/1"}
    request_id = current_request_id()
    if request_id:
        headers["X-Request-ID"] = request_id
    return headers


def signed_post(url: str, body: bytes, *, extra_headers: dict | None = None,
                timeout=DEFAULT_TIMEOUT) -> requests.Response:
    """POST a webhook body signed with the first WEBHOOK_SIGNING_SECRET, plus the service token."""
    settings = current_app.config["SETTINGS"]
    headers = {**_base_headers(), **signature_headers(settings.webhook_signing_secret, body),
               SERVICE_TOKEN_HEADER: settings.service_to_service_secret, **(extra_headers or {})}
    return _send("POST", url, data=body, headers=headers, timeout=timeout)


def service_request(method: str, url: str, *, json_body: dict | None = None, extra_headers: dict | None = None,
                    timeout=DEFAULT_TIMEOUT) -> requests.Response:
    """A call to the other service's internal API, authenticated by SERVICE_TO_SERVICE_SECRET."""
    settings = current_app.config["SETTINGS"]
    headers = {**_base_headers(), SERVICE_TOKEN_HEADER: settings.service_to_service_secret, **(extra_headers or {})}
    data = encode(json_body) if json_body is not None else None
    return _send(method, url, data=data, headers=headers, timeout=timeout)


def _send(method: str, url: str, **kwargs) -> requests.Response:
    """One request; sent once more on a fresh connection if a pooled one was closed under it.

    The other side closes keep-alive connections idle for a few seconds (gunicorn's keepalive);
    reusing one then fails before any answer. Every call here is safe to repeat (receivers
    dedupe by event id, charges by idempotency key), so one more try beats an outbox backoff.
    """
    try:
        return session().request(method, url, **kwargs)
    except requests.ConnectionError as exc:
        if not _closed_by_peer(exc):
            raise
        return session().request(method, url, **kwargs)


def _closed_by_peer(exc: BaseException) -> bool:
    seen = exc
    while seen is not None:
        if isinstance(seen, (http.client.RemoteDisconnected, ConnectionResetError)):
            return True
        nested = [a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]
        seen = nested[0] if nested else seen.__cause__ or seen.__context__
    return False
