"""Metadata stores: SQL (SQLite, PostgreSQL) and an HTTP client for a ``loopml server``."""

from loopml.store.base import MetricPoint, TrackingStore

__all__ = ["MetricPoint", "TrackingStore"]
