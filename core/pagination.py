"""Lists: keyset (cursor) pages with no COUNT and no OFFSET, and the older offset pages beside them.

A caller passing `limit` or `starting_after` gets `{items, has_more, next_cursor}`; one passing
`page`/`per_page`, or nothing, gets the offset page `{items, meta}` the contract always had
(docs/api.md#lists). The cursor is opaque to clients: base64url JSON of the last row's order keys.
"""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import literal, tuple_

from core.errors import ApiError
from core.extensions import db
from core.schemas import Integer, PageMetaSchema, StrictSchema, paginate

BAD_CURSOR = "Not a cursor this list gave out: pass next_cursor unchanged."
PAGING_KEYS = ("starting_after", "limit", "page", "per_page")


class ListArgsSchema(StrictSchema):
    starting_after = fields.String(validate=validate.Length(min=1, max=300), metadata={
        "description": "The next_cursor of the previous page (cursor pages)"})
    limit = Integer(validate=validate.Range(min=1, max=100), metadata={"description": "Cursor page size, default 20"})
    page = Integer(validate=validate.Range(min=1, max=100000), metadata={"description": "Offset page (counts rows)"})
    per_page = Integer(validate=validate.Range(min=1, max=100))

    @ma.validates_schema
    def _one_style(self, data, **kwargs):
        if ("starting_after" in data or "limit" in data) and ("page" in data or "per_page" in data):
            field = "starting_after" if "starting_after" in data else "limit"
            raise ma.ValidationError("Cannot be combined with page or per_page.", field)


class ListPageSchema(StrictSchema):
    meta = fields.Nested(PageMetaSchema, dump_only=True, metadata={"description": "Offset pages only"})
    has_more = fields.Boolean(dump_only=True, metadata={"description": "Cursor pages only"})
    next_cursor = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "Cursor pages only: pass as starting_after for the next page; null on the last"})


def split_paging(args: dict) -> tuple[dict, dict]:
    """(the paging arguments, the rest: a list's filters) of a ListArgsSchema subclass's loaded query."""
    return ({k: v for k, v in args.items() if k in PAGING_KEYS},
            {k: v for k, v in args.items() if k not in PAGING_KEYS})


def list_page(stmt, order_cols: list, args: dict, descending: bool = True) -> dict:
    """Order `stmt` by `order_cols` (unique together) and answer the page `args` asks for."""
    if "limit" in args or "starting_after" in args:
        return cursor_page(stmt, order_cols, args.get("starting_after"), args.get("limit", 20), descending)
    ordered = stmt.order_by(*(c.desc() if descending else c.asc() for c in order_cols))
    return paginate(ordered, args.get("page", 1), args.get("per_page", 20))


def cursor_page(stmt, order_cols: list, starting_after: str | None, limit: int, descending: bool = True) -> dict:
    """One keyset page: rows strictly after the cursor in the order, fetched limit+1 to learn has_more."""
    if starting_after is not None:
        key = tuple_(*order_cols)
        after = tuple_(*(literal(v, c.type) for v, c in zip(decode_cursor(starting_after, order_cols), order_cols)))
        stmt = stmt.where(key < after if descending else key > after)
    stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c in order_cols)).limit(limit + 1)
    rows = db.session.scalars(stmt).all()
    items = rows[:limit]
    has_more = len(rows) > limit
    return {"items": items, "has_more": has_more,
            "next_cursor": encode_cursor(items[-1], order_cols) if has_more else None}


def encode_cursor(row, order_cols: list) -> str:
    values = [_jsonable(getattr(row, c.key)) for c in order_cols]
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order_cols: list) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(order_cols):
            raise ValueError(cursor)
        return [_parse(v, c.type.python_type) for v, c in zip(values, order_cols)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(422, "Validation failed", errors={"query": {"starting_after": [BAD_CURSOR]}}) from None


def _jsonable(value):
    return value.isoformat() if isinstance(value, datetime) else value if isinstance(value, int) else str(value)


def _parse(value, python_type):
    if python_type is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(value)
        return parsed
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if python_type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(value)
    return python_type(value)
