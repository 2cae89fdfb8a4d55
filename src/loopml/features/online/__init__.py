"""Online feature store: the store protocol (``base``), SQLite and Redis stores, and online retrieval."""
