"""Alembic migrations of the workspace store's schema (run by glue_runtime.workspace.schema)."""
