"""A stream's plan: what the stages do to its records, decided once per SCHEMA.

When a SCHEMA arrives, the field map's selection, the declarative map (or the ETL script) and
the output validation for that stream become one :class:`StreamPlan`. It is plain data that
prints as what it does (``str(plan)``, ``glue fieldmap show --plan``); :mod:`.compile` turns
it into the stream's one record function.

The parts, each None when that stage has nothing to do for the stream:

- :class:`SelectSteps`: top-level fields the field map drops, the fields it keeps, nested
  objects checked or projected, and what happens to fields the schema does not list;
- :class:`MapSteps`: a declarative map's drops, renames and computed fields, in order;
- ``script``: the name of a Python ETL script (or of maps that need the general path: a
  filter, several output streams, simpleeval): called per record from the record function;
- :class:`CheckSteps`: which output fields are checked against the output schema, and the
  policy (``error``, ``warn``, ``off``).

Callables the compiled code needs (the selection's complete projection, the fields'
validators) ride along in fields that do not print. A per-stream decoder (msgspec, say) would
be one more part here: the plan knows the stream's schema and which fields are read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal

Projection = Callable[[dict[str, Any]], dict[str, Any]]
Check = Callable[[Any], bool]
StepKind = Literal["drop", "rename", "compute"]


@dataclass(frozen=True)
class SelectSteps:
    """The field map's work on one stream's records (top level; nested levels by name).

    ``fast`` is True when the usual record takes straight-line code: copy, delete ``drop``,
    check the kept keys are the schema's (``closed`` levels) and the ``checked`` nested
    objects pass whole, project the ``projected`` ones. Anything else (a deselected field
    absent, a field the schema does not list) goes to ``project``, the complete projection,
    which counts unknown fields and applies ``unknown_fields``.
    """

    drop: tuple[str, ...]
    keep: tuple[str, ...]
    closed: bool
    unknown_fields: str
    checked: tuple[str, ...] = ()
    projected: tuple[str, ...] = ()
    fast: bool = True
    project: Projection | None = dc_field(default=None, repr=False, compare=False)
    known: Check | None = dc_field(default=None, repr=False, compare=False)
    checks: tuple[Check, ...] = dc_field(default=(), repr=False, compare=False)
    projections: tuple[Projection, ...] = dc_field(default=(), repr=False, compare=False)

    def lines(self) -> list[str]:
        drop = _names(self.drop) if self.drop else "nothing at the top level"
        out = [f"field map: drop {drop}"]
        out.append(f"  keep {len(self.keep)} field(s): {_names(self.keep)}")
        if self.checked:
            out.append(f"  nested, passed whole after a key check: {_names(self.checked)}")
        if self.projected:
            out.append(f"  nested, with fields dropped inside: {_names(self.projected)}")
        if self.closed:
            out.append(f"  fields the schema does not list: {self.unknown_fields}, counted")
        else:
            out.append("  the schema allows fields it does not list: they pass")
        if not self.fast:
            out.append("  every record takes the complete projection")
        return out


@dataclass(frozen=True)
class Step:
    """One step of a declarative map: ``drop`` a field, ``rename`` one (``arg`` is the
    source field), or ``compute`` one (``arg`` is the expression, ``reads`` its fields)."""

    kind: StepKind
    field: str
    arg: str = ""
    reads: tuple[str, ...] = ()
    code: str = dc_field(default="", repr=False, compare=False)  # the guarded Python expression

    def line(self) -> str:
        if self.kind == "drop":
            return f"drop {self.field}"
        if self.kind == "rename":
            return f"rename {self.arg} -> {self.field}"
        return f"{self.field} = {self.arg}"


@dataclass(frozen=True)
class MapSteps:
    """A declarative map's work on one stream's records, compiled into straight-line code.

    ``keep_others`` False (``__else__: null``) starts from the key properties only. Every
    expression reads the record as the map received it (after the field map), so the reads
    happen before any write. ``functions`` are what the expressions call.
    """

    name: str
    keep_others: bool
    keys: tuple[str, ...]
    steps: tuple[Step, ...]
    functions: dict[str, Any] = dc_field(default_factory=dict, repr=False, compare=False)
    fn_prefix: str = dc_field(default="", repr=False, compare=False)  # marks function names

    @property
    def changed(self) -> frozenset[str]:
        """The fields the map writes (the rest pass through as the same values)."""
        return frozenset(s.field for s in self.steps if s.kind != "drop")

    def lines(self) -> list[str]:
        head = f"map {self.name!r}"
        if not self.keep_others:
            head += f" (__else__: null: only {_names(self.keys) or 'no fields'} and these)"
        return [head + ":", *(f"  {s.line()}" for s in self.steps)]


@dataclass(frozen=True)
class FieldCheck:
    """One output field checked against its schema: a type lookup first (``plain``), the
    compiled validator only when the type is not plainly accepted."""

    field: str
    schema: Any
    plain: frozenset[type] = dc_field(default=frozenset(), repr=False, compare=False)
    validator: Callable[[Any], Any] | None = dc_field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CheckSteps:
    """Output validation on the compiled path: the fields the stages changed, and the
    required fields. A record failing any check goes to the general path, whose validator
    gives the verdict and the message (and applies ``policy``)."""

    policy: str
    fields: tuple[FieldCheck, ...]
    required: tuple[str, ...]

    def lines(self) -> list[str]:
        if self.policy == "off":
            return ["validate: off"]
        out = [f"validate ({self.policy}): {len(self.fields)} changed field(s) checked"]
        out += [f"  {c.field}: {_schema(c.schema)}" for c in self.fields]
        if self.required:
            out.append(f"  required: {_names(self.required)}")
        return out


@dataclass(frozen=True)
class StreamPlan:
    """Everything the stages do to one input stream's records, until its next SCHEMA."""

    stream: str
    output: str | None
    key_properties: tuple[str, ...] = ()
    select: SelectSteps | None = None
    maps: MapSteps | None = None
    script: str | None = None
    check: CheckSteps | None = None
    dropped: bool = False  # the stream is not selected: its messages go nowhere

    @property
    def passes(self) -> bool:
        """True when records pass unchanged (the same message objects)."""
        return not self.dropped and self.select is None and self.maps is None and not self.script

    def lines(self) -> list[str]:
        out = [f"stream {self.stream}"]
        if self.dropped:
            return [*out, "  not selected: its messages are dropped"]
        if self.output != self.stream:
            out[0] += f" -> {self.output}" if self.output else " -> (no output of its own)"
        if self.key_properties:
            out[0] += f"  (key: {_names(self.key_properties)})"
        parts: list[str] = []
        for part in (self.select, self.maps):
            if part is not None:
                parts += part.lines()
        if self.script:
            parts.append(f"ETL {self.script}: called per record (the general path)")
        if self.check is not None:
            parts += self.check.lines()
        if not parts:
            parts.append("records pass unchanged (the tap's own bytes)")
        return out + [f"  {p}" for p in parts]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _schema(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, default=str)


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names)


__all__ = [
    "CheckSteps",
    "FieldCheck",
    "MapSteps",
    "SelectSteps",
    "Step",
    "StreamPlan",
]
