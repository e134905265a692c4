"""`glue serve`: the HTTP service for a workspace (docs/server.md)."""

from __future__ import annotations

from glue_runtime.cli import main


@main.command(name="serve")
def serve() -> None:
    """Serve the workspace's HTTP API, triggers and schedules (to be written)."""
