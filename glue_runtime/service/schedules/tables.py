"""The schedules' tables: per-tenant schedules and the ticks fired (one per schedule and tick)."""

from __future__ import annotations

from glue_runtime.workspace.tables import metadata

__all__ = ["metadata"]
