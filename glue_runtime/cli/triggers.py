"""`glue triggers`."""

from __future__ import annotations

from glue_runtime.cli import main


@main.group(name="triggers")
def triggers_group() -> None:
    """Triggers: signed webhooks that start jobs (docs/triggers.md)."""
