"""A database connection killed at the instant an idempotent answer is stored (what a SIGKILLed
worker or a cut network does then), for the Idempotency-Key crash tests of both services."""
import contextlib

import psycopg2
from sqlalchemy import event

from core.extensions import db


@contextlib.contextmanager
def connection_killed_when_storing_the_answer(app):
    """The first statement that stores an idempotent answer runs on a connection that was just killed."""
    with app.app_context():
        engine = db.engine
    fired = []

    def kill(conn, cursor, statement, parameters, context, executemany):
        if fired or "response_code" not in statement or not statement.startswith("UPDATE"):
            return
        fired.append(statement)
        pid = conn.connection.dbapi_connection.get_backend_pid()
        killer = psycopg2.connect(engine.url.render_as_string(hide_password=False).replace("+psycopg2", ""))
        killer.autocommit = True
        killer.cursor().execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        killer.close()

    event.listen(engine, "before_cursor_execute", kill)
    try:
        yield fired
    finally:
        event.remove(engine, "before_cursor_execute", kill)
