"""Counting a test's own Redis commands on the client that sends them, so that whatever else uses the
server (other tests, other engineers, pytest-xdist workers) cannot change the count."""
from __future__ import annotations

import dataclasses

import redis

from subscription_app.usage.store import UsageStore

SCRIPTS = ("use", "store_entitlement", "invalidate", "ack", "unindex")


class CommandLog(redis.Redis):
    """A real client that also remembers the command of every round trip it makes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = []

    def execute_command(self, *args, **options):
        self.sent.append(args[0])
        return super().execute_command(*args, **options)


def logged_usage_store(store: UsageStore, logged: CommandLog) -> UsageStore:
    """The same usage store on `logged`: its scripts registered on that client, so their calls are logged."""
    return dataclasses.replace(store, client=logged,
                               **{name: logged.register_script(getattr(store, name).script) for name in SCRIPTS})
