"""CSV exports of customers, invoices and the summary: a header row, money in integer minor units.

A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is written with a
leading apostrophe (OWASP's advice), since customers' metadata and external ids are free text.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from core.extensions import db
from subscription_app.backoffice import customers, invoices_admin, reports

INVOICE_COLUMNS = ("number", "id", "customer_id", "subscription_id", "status", "reason", "currency",
                   "amount_due_cents", "amount_paid_cents", "amount_refunded_cents", "period_start", "period_end",
                   "created_at", "paid_at", "voided_at")
CUSTOMER_COLUMNS = ("id", "email", "external_id", "metadata", "role", "is_active", "created_at")
SUMMARY_COLUMNS = ("section", "key", "currency", "value")
BATCH = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_lines(header: tuple, rows: Iterable[tuple]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _chain(header, rows):
        writer.writerow([_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _chain(header: tuple, rows: Iterable[tuple]) -> Iterator[tuple]:
    yield header
    yield from rows


def _invoice_row(invoice) -> tuple:
    return (invoice.number, invoice.id, invoice.user_id, invoice.subscription_id, invoice.status, invoice.reason,
            invoice.currency, invoice.amount_due_cents, invoice.amount_paid_cents, invoice.amount_refunded_cents,
            invoice.period_start and invoice.period_start.isoformat(),
            invoice.period_end and invoice.period_end.isoformat(), invoice.created_at.isoformat(),
            invoice.paid_at and invoice.paid_at.isoformat(), invoice.voided_at and invoice.voided_at.isoformat())


def _customer_row(user) -> tuple:
    metadata = json.dumps(user.metadata_, sort_keys=True, separators=(",", ":")) if user.metadata_ else None
    return (user.id, user.email, user.external_id, metadata, user.role, user.is_active, user.created_at.isoformat())


def customers_csv(filters: dict) -> Iterator[str]:
    """The customers of the list's filters, oldest first: CSV read from the database and sent BATCH rows at a time."""
    stmt = customers.filtered(**filters).order_by(*customers.ORDER)
    rows = (_customer_row(u) for u in db.session.scalars(stmt.execution_options(yield_per=BATCH)))
    chunk = []
    for line in _csv_lines(CUSTOMER_COLUMNS, rows):
        chunk.append(line)
        if len(chunk) == BATCH:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def invoices_csv(filters: dict) -> str:
    """Every invoice matching the filters of the list, oldest first, read in batches."""
    stmt = invoices_admin.filtered(**filters).order_by(invoices_admin.Invoice.number)
    rows = (_invoice_row(i) for i in db.session.scalars(stmt.execution_options(yield_per=BATCH)))
    return "".join(_csv_lines(INVOICE_COLUMNS, rows))


def summary_csv(data: dict | None = None) -> str:
    return "".join(_csv_lines(SUMMARY_COLUMNS, reports.summary_rows(data or reports.summary())))
