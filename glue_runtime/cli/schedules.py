"""`glue schedules`."""

from __future__ import annotations

from glue_runtime.cli import main


@main.group(name="schedules")
def schedules_group() -> None:
    """Schedules: when flows run on their own (docs/jobs.md)."""
