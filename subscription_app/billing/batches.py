"""Apply a billing step to every due subscription, one batch per transaction, until none is due.

Each batch locks its rows FOR UPDATE SKIP LOCKED (parallel runs share the work instead of
doubling it), applies the step to each row in its own savepoint and commits. There is no cap
on the number of batches: a run ends when nothing is due, or, when given a deadline, after
the batch that passes it, and then says it is incomplete so the caller can continue.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from flask import current_app
from sqlalchemy import select

from core import clock
from core.extensions import db
from subscription_app.models import Plan, Subscription

log = logging.getLogger(__name__)
Progress = Callable[[str, int], None]  # (step name, rows handled so far in this step)


@dataclass
class StepResult:
    done: int = 0
    failed: int = 0
    complete: bool = True


def _locked_batch(size: int, skipped: set, conditions):
    stmt = select(Subscription).where(*conditions)
    if skipped:  # a row that failed this run would otherwise come back in every batch
        stmt = stmt.where(Subscription.id.not_in(skipped))
    return db.session.scalars(stmt.order_by(Subscription.current_period_end, Subscription.id).limit(size)
                              .with_for_update(skip_locked=True)).all()


def _plans_of(rows) -> list[Plan]:
    """The batch's plans in one read, held by the caller: the session's identity map keeps an object only
    while something refers to it, so each row's step would read its plan again."""
    ids = {sub.plan_id for sub in rows} | {sub.pending_plan_id for sub in rows if sub.pending_plan_id}
    return db.session.scalars(select(Plan).where(Plan.id.in_(ids))).all()


def _apply(rows, step, now, result: StepResult, skipped: set) -> None:
    for sub in rows:
        try:
            with db.session.begin_nested():
                step(sub, now)
            result.done += 1
        except Exception:  # noqa: BLE001 - one broken row must not stop the others
            log.exception("billing step %s failed for subscription %s", step.__name__, sub.id)
            result.failed += 1
            skipped.add(sub.id)


def run_in_batches(name: str, conditions_fn, step, progress: Progress | None = None,
                   deadline: float | None = None) -> StepResult:
    """`conditions_fn(now)` selects the due rows; `deadline` is a time.monotonic() value."""
    size = current_app.config["SETTINGS"].billing_batch_size
    result, skipped = StepResult(), set()
    while True:
        now = clock.utcnow()
        rows = _locked_batch(size, skipped, conditions_fn(now))
        if not rows:
            db.session.rollback()
            return result
        plans = _plans_of(rows)  # noqa: F841 - held for the batch: each row's session.get finds its plan
        _apply(rows, step, now, result, skipped)
        db.session.commit()
        if progress is not None:
            progress(name, result.done + result.failed)
        if deadline is not None and time.monotonic() >= deadline:
            result.complete = False
            return result
