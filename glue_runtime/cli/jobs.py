"""`glue jobs`."""

from __future__ import annotations

from glue_runtime.cli import main


@main.group(name="jobs")
def jobs_group() -> None:
    """Jobs: their records, logs, cancel and rerun (docs/jobs.md)."""
