"""The SQL statements an app sends, counted by the statements a test is about."""
from __future__ import annotations

import contextlib
import re

from sqlalchemy import event

from core.extensions import db


@contextlib.contextmanager
def recorded(*apps):
    """The text of every statement the apps' engines send inside the block (a list, filled as they go); a
    commit is recorded as "COMMIT", a statement of the payment service's engine starts with "PAY " when two
    apps are given."""
    sent: list[str] = []

    listeners = []
    for i, app in enumerate(apps):
        prefix = "PAY " if i == 1 else ""

        def record(conn, cursor, statement, parameters, context, executemany, prefix=prefix):
            sent.append(prefix + re.sub(r"\s+", " ", statement))

        def committed(conn, prefix=prefix):
            sent.append(prefix + "COMMIT")

        with app.app_context():
            engine = db.engine
        listeners += [(engine, "before_cursor_execute", record), (engine, "commit", committed)]
    for listener in listeners:
        event.listen(*listener)
    try:
        yield sent
    finally:
        for listener in listeners:
            event.remove(*listener)


def count(sent: list[str], fragment: str) -> int:
    return sum(fragment in statement for statement in sent)
