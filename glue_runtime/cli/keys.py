"""`glue keys`."""

from __future__ import annotations

from glue_runtime.cli import main


@main.group(name="keys")
def keys_group() -> None:
    """Service keys for glue serve's API (docs/server.md)."""
