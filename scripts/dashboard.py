"""rq-dashboard for the billing queues, never without credentials.

Reads RQ_DASHBOARD_USERNAME / RQ_DASHBOARD_PASSWORD (development default: admin /
dev-dashboard-password; production refuses the default) and REDIS_URL, binds to
DASHBOARD_HOST (127.0.0.1 unless told otherwise) on DASHBOARD_PORT (9181).
"""
from __future__ import annotations

import os
import sys

from core.settings import load_settings


def main() -> None:
    settings = load_settings().validate()
    if not settings.dashboard_username or not settings.dashboard_password:
        sys.exit("RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD must be set")
    os.environ["RQ_DASHBOARD_USERNAME"] = settings.dashboard_username
    os.environ["RQ_DASHBOARD_PASSWORD"] = settings.dashboard_password
    from rq_dashboard.cli import main as dashboard_main

    sys.argv = ["rq-dashboard", "--bind", os.environ.get("DASHBOARD_HOST", "127.0.0.1"),
                "--port", os.environ.get("DASHBOARD_PORT", "9181"), "--redis-url", settings.redis_url]
    dashboard_main()


if __name__ == "__main__":
    main()
