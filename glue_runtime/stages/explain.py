"""Print what the stages would do to each stream of a catalog (``glue fieldmap show --plan``).

The catalog's streams go through the stages as SCHEMA messages, as a tap would send them, and
each stream's plan (and, with ``code``, its compiled record function) is printed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from glue_runtime.catalog import Selection
from glue_runtime.protocol import SCHEMA, Message
from glue_runtime.stages import Stage
from glue_runtime.stages.stage import Route, StagePass


def schema_messages(catalog: dict[str, Any]) -> list[Message]:
    """One SCHEMA message per stream of a Singer catalog."""
    out: list[Message] = []
    for entry in catalog.get("streams") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("schema"), dict):
            continue
        name = entry.get("tap_stream_id") or entry.get("stream")
        msg: Message = {"type": SCHEMA, "stream": name, "schema": entry["schema"]}
        msg["key_properties"] = list(entry.get("key_properties") or [])
        out.append(msg)
    return out


def _passes(last: Any) -> list[StagePass]:
    """The passes of a chain of stages, the first one first."""
    out: list[StagePass] = []
    while isinstance(last, StagePass):
        out.append(last)
        last = last.messages
    return out[::-1]


def _describe(route: Route, code: bool) -> str:
    text = str(route.plan) + "\n"
    if code:
        text += "".join(f"    {line}\n" for line in route.compiled.source.splitlines())
    return text


_END: Message = {"type": "GLUE_EXPLAIN_END"}  # an unknown type: every stage passes it on


def explain(stages: Sequence[Stage], catalog: dict[str, Any], *, code: bool = False) -> str:
    """The plans the stages make for the catalog's streams, as text.

    An ETL script's ``schema()`` and ``start_stream()`` hooks run (they decide its output);
    its input never ends, so ``end_stream()`` does not."""
    messages: Iterator[Message] = iter([*schema_messages(catalog), _END])
    for stage in stages:
        messages = stage(messages)
    for msg in messages:
        if msg is _END:
            break
    blocks = []
    for p in _passes(messages):
        blocks.append(f"# stage: {p.stats.name}\n")
        blocks += [_describe(r, code) for r in p.routes.values()]
    return "\n".join(blocks)


def explain_flow(
    selection: Selection, catalog: dict[str, Any], etl: Path | None, *, code: bool = False
) -> str:
    """The plans of a flow's stages: its field map's selection, then its ETL (script or maps)."""
    from glue_runtime.stages.select import make_selector
    from glue_runtime.stages.transform import make_transform

    stages = [make_selector(selection)]
    if etl is not None:
        stages.append(make_transform(etl))
    return explain(stages, catalog, code=code)


__all__ = ["explain", "explain_flow", "schema_messages"]
