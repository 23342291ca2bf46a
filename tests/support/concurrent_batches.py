"""Two signed batch webhooks posted at the same instant, one thread each (the lock-order tests of both services)."""
from __future__ import annotations

import threading

from core.http import encode
from core.security import signature_headers


def post_at_once(app, settings, path: str, batches: list) -> list:
    """POST each batch to `path` at once from its own thread; each thread's (status, results) or its exception."""
    answers, barrier = [None] * len(batches), threading.Barrier(len(batches))

    def go(i):
        raw = encode({"events": batches[i]})
        headers = {**signature_headers(settings.webhook_signing_secret, raw), "Content-Type": "application/json"}
        client = app.test_client()
        barrier.wait()
        try:
            r = client.post(path, data=raw, headers=headers)
            answers[i] = (r.status_code, r.json)
        except Exception as exc:  # noqa: BLE001 - a deadlock surfaces here in testing mode
            answers[i] = (500, repr(exc))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers
