"""Python stand-ins for the selector and transform stages, used until the real ones land.

They do what the benchmark's field map asks (drop 4 fields of "orders", add ``line_total`` =
quantity * unit_price) the way a good stage should: per-stream work once per SCHEMA, one new
dict per changed RECORD, everything else passed through as the same object (so the runner can
write the tap's own bytes). Results say when a row used these instead of the real stages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

Message = dict[str, Any]


def drop_fields(stream: str, drop: Iterable[str]):
    """A stage that removes ``drop`` from ``stream``'s records and SCHEMA."""
    dropped = frozenset(drop)

    def stage(messages: Iterator[Message]) -> Iterator[Message]:
        active = False
        for msg in messages:
            mtype = msg["type"]
            if mtype == "RECORD":
                if active and msg["stream"] == stream:
                    rec = msg["record"]
                    out = dict(msg)
                    out["record"] = {k: v for k, v in rec.items() if k not in dropped}
                    yield out
                    continue
            elif mtype == "SCHEMA" and msg["stream"] == stream:
                props = msg["schema"].get("properties", {})
                active = bool(dropped & props.keys())
                schema = {
                    **msg["schema"],
                    "properties": {k: v for k, v in props.items() if k not in dropped},
                }
                msg = {**msg, "schema": schema}
            yield msg

    return stage


def add_line_total(stream: str, name: str = "line_total"):
    """A stage that adds ``name`` = round(quantity * unit_price, 2) to ``stream``'s records."""

    def stage(messages: Iterator[Message]) -> Iterator[Message]:
        for msg in messages:
            mtype = msg["type"]
            if mtype == "RECORD":
                if msg["stream"] == stream:
                    rec = msg["record"]
                    q, p = rec.get("quantity"), rec.get("unit_price")
                    out = dict(msg)
                    out["record"] = {
                        **rec,
                        name: round(q * p, 2) if q is not None and p is not None else None,
                    }
                    yield out
                    continue
            elif mtype == "SCHEMA" and msg["stream"] == stream:
                props = {**msg["schema"].get("properties", {}), name: {"type": ["number", "null"]}}
                msg = {**msg, "schema": {**msg["schema"], "properties": props}}
            yield msg

    return stage
