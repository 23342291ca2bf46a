"""Inbox: a received event's id is recorded in the same transaction as its effect.

A redelivered event finds its id already there and changes nothing. Two deliveries
racing each other serialise on the primary key: the second waits for the first to
commit, then sees the conflict. A batch takes advisory locks on all its event ids first, in
one order (lock_event_ids), so two batches holding the same events in other orders queue up
instead of deadlocking on their claims.
"""
from __future__ import annotations

import zlib
from datetime import datetime
from typing import Callable

from sqlalchemy import Index, func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from core.errors import ApiError
from core.extensions import db


class InboxMixin:
    event_id: Mapped[str] = mapped_column(db.String(128), primary_key=True)
    event_type: Mapped[str] = mapped_column(db.String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(db.DateTime(timezone=True), server_default=func.now(),
                                                  nullable=False)

    @declared_attr.directive
    def __table_args__(cls):
        # The retention job's range scan (jobs/retention.py).
        return (Index(f"ix_{cls.__tablename__}_received_at", "received_at"),)


def claim(model, event_id: str, event_type: str) -> bool:
    """Record the event in the current transaction; False if it was seen before."""
    stmt = (insert(model).values(event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing(index_elements=["event_id"]).returning(model.event_id))
    return db.session.execute(stmt).scalar() is not None


def apply_committed(apply: Callable[[dict], dict], envelope) -> dict:
    """A single event: `apply` it (its claim and its effect), commit, and answer; an ApiError keeps neither."""
    try:
        answer = apply(envelope)
    except ApiError:
        db.session.rollback()
        raise
    db.session.commit()
    return answer


def _lock_key(value: str) -> int:
    return zlib.crc32(value.encode()) - 2**31  # a signed int4, the second key of pg_advisory_xact_lock(int, int)


def lock_event_ids(model, event_ids) -> None:
    """Transaction-level advisory locks on these event ids, taken in key order (one statement)."""
    keys = sorted({_lock_key(e) for e in event_ids if isinstance(e, str)})
    if keys:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, k) FROM unnest(CAST(:keys AS int[])) AS k"),
                           {"ns": _lock_key(model.__tablename__), "keys": keys})
