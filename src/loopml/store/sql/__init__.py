"""SQL implementations of loopml's stores (SQLite and PostgreSQL)."""

from loopml.store.sql.database import Database
from loopml.store.sql.tracking import SqlTrackingStore

__all__ = ["Database", "SqlTrackingStore"]
