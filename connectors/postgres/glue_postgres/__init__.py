"""glue_postgres: a PostgreSQL target (COPY + upsert) and tap for glue_runtime."""

__version__ = "0.1.0"
