"""A fixture that captures every log line as parsed JSON: ask for `json_logs` (registered in tests/conftest.py)."""
from __future__ import annotations

import io
import json

import pytest

from core.logging import configure_logging


@pytest.fixture
def json_logs(settings):
    """Log JSON into a buffer for the test; put the text handler back afterwards."""
    buf = io.StringIO()
    configure_logging(settings.with_overrides(log_format="json"), "test", stream=buf)

    def lines(logger=None):
        parsed = [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]
        return [p for p in parsed if logger is None or p["logger"] == logger]

    yield lines
    configure_logging(settings, "test")
