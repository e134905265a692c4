"""The triggers' tables: their secrets (encrypted) and the deliveries seen (24 h dedupe)."""

from __future__ import annotations

from glue_runtime.workspace.tables import metadata

__all__ = ["metadata"]
