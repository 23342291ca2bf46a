"""Periodic billing: renewals, trial ends, dunning retries, expiry of unpaid subscriptions.

One entry in jobs/schedule.py runs run_billing_cycle every BILLING_CYCLE_SECONDS (60 by
default). Each step locks its rows (FOR UPDATE SKIP LOCKED) and moves their state on,
so overlapping runs share the work and a repeated run does nothing twice; charges go
out through the outbox in the same transaction (subscription_app/billing/renewals.py).
"""
from __future__ import annotations

from jobs.context import in_app
from subscription_app.billing import renewals


@in_app("subscription")
def run_billing_cycle() -> dict:
    return renewals.run_cycle()


@in_app("subscription")
def run_renewals() -> int:
    return renewals.run_renewals()


@in_app("subscription")
def run_dunning() -> int:
    return renewals.run_dunning()


@in_app("subscription")
def expire_unpaid_subscriptions() -> int:
    return renewals.run_expiry()
