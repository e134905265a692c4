"""`glue events`."""

from __future__ import annotations

from glue_runtime.cli import main


@main.group(name="events")
def events_group() -> None:
    """Outbound webhook events: list and replay (docs/server.md)."""
