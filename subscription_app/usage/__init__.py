"""Usage metering: atomic limits in Redis, PostgreSQL as the ledger.

    store.py         the usage Redis (own URL or Cluster) and the Lua scripts
    keys.py          key names (all hash-tagged per user)
    entitlements.py  which plan limits and billing period apply (cached, invalidated on commit)
    metering.py      the service layer behind /v1/usage
    ledger.py        sync to PostgreSQL, rehydration, dirty tracking
    cli.py           `flask usage sync-now` and friends
"""
from __future__ import annotations

from flask import Flask

from subscription_app.usage import cli, entitlements, models, store  # noqa: F401 - models: usage_counters


def init_app(app: Flask) -> None:
    store.init_store(app)
    entitlements.register_listeners()
    app.cli.add_command(cli.usage_cli)
