"""The SQL statements an app sends, counted by the statements a test is about."""
from __future__ import annotations

import contextlib
import re

from sqlalchemy import event

from core.extensions import db


@contextlib.contextmanager
def recorded(*apps):
    """The text of every statement the apps' engines send inside the block (a list, filled as they go)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(re.sub(r"\s+", " ", statement))

    engines = []
    for app in apps:
        with app.app_context():
            engines.append(db.engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def count(sent: list[str], fragment: str) -> int:
    return sum(fragment in statement for statement in sent)
