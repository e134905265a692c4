"""SQLite tap and target for glue_runtime (stdlib sqlite3, singer-sdk plugin classes)."""

__version__ = "0.1.0"
