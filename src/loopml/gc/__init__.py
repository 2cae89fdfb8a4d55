"""Garbage collection of the artifact store (``loopml gc``): blobs no record references go."""

from loopml.gc.collect import DEFAULT_OLDER_THAN, MIN_OLDER_THAN, GcReport, collect, parse_older_than

__all__ = ["DEFAULT_OLDER_THAN", "MIN_OLDER_THAN", "GcReport", "collect", "parse_older_than"]
