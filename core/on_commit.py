"""Run code after the current database transaction commits, and never if it does not.

Side effects outside PostgreSQL (a metric in Redis, say) that a transaction decides must
not happen when that transaction rolls back and is retried: register them here. Each
callback is kept with the transaction or SAVEPOINT it was registered in: a released
SAVEPOINT waits for the real commit, a rolled-back one drops what was registered inside it.
"""
from __future__ import annotations

import logging

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event

from core.extensions import db

log = logging.getLogger(__name__)

ON_COMMIT_KEY = "on_commit"


def on_commit(fn, outermost: bool = False) -> None:
    """Call fn() after the current transaction of db.session commits, never if it does not.

    `outermost`: kept with the whole transaction, even when registered inside a SAVEPOINT that rolls back."""
    session = db.session()
    nested = None if outermost else session.get_nested_transaction()
    owner = nested or session.get_transaction() or session.begin()
    session.info.setdefault(ON_COMMIT_KEY, []).append((owner, fn))


@event.listens_for(FlaskSession, "after_commit")
def _run_after_commit(session):
    # Also fired when a SAVEPOINT is released: only the outermost commit makes anything true.
    if session.in_nested_transaction():
        return
    for _, fn in session.info.pop(ON_COMMIT_KEY, ()):
        try:
            fn()
        except Exception:  # noqa: BLE001 - the commit happened; a callback must not make it look failed
            log.warning("on_commit callback failed", exc_info=True)


@event.listens_for(FlaskSession, "after_soft_rollback")
def _drop_rolled_back_savepoint(session, previous):
    if not previous.nested or ON_COMMIT_KEY not in session.info:
        return
    session.info[ON_COMMIT_KEY] = [(owner, fn) for owner, fn in session.info[ON_COMMIT_KEY]
                                   if not _within(owner, previous)]


@event.listens_for(FlaskSession, "after_transaction_end")
def _drop_uncommitted(session, transaction):
    # The outermost transaction ended: committed ones already ran; a rollback, or a close()
    # that fires no rollback event, leaves nothing for the session's next transaction.
    if transaction.parent is None:
        session.info.pop(ON_COMMIT_KEY, None)


def _within(owner, transaction) -> bool:
    while owner is not None:
        if owner is transaction:
            return True
        owner = owner.parent
    return False
