"""Find a row by its full id or a unique id prefix (what the CLI accepts for run and schedule ids)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.ids import is_id
from loopml.store.sql.database import Database

MIN_PREFIX = 4


def row_by_id_or_prefix(db: Database, table: sa.Table, value: str, *, what: str, list_hint: str) -> Any:
    """The one row of ``table`` whose id is ``value`` or starts with it (4+ hex characters).

    ``InvalidInput`` for a malformed or ambiguous prefix; ``NotFound`` (with ``list_hint``) when none matches.
    """
    if is_id(value):
        where = table.c.id == value
    elif MIN_PREFIX <= len(value) < 32 and all(c in "0123456789abcdef" for c in value):
        where = table.c.id.like(f"{value}%")
    else:
        raise InvalidInput(f"Invalid {what} id {value!r}: use the id or a unique prefix of 4+ hex characters.")
    with db.read() as conn:
        rows = conn.execute(sa.select(table).where(where).limit(2)).all()
    if not rows:
        raise NotFound(f"{what[0].upper()}{what[1:]} {value!r} does not exist. {list_hint}")
    if len(rows) > 1:
        raise InvalidInput(f"{what[0].upper()}{what[1:]} prefix {value!r} is ambiguous: give more characters.")
    return rows[0]
