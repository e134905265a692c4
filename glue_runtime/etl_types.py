"""The ETL script contract's types: what a script's hooks receive and return, and how a
loaded script is held (:class:`Script`).

Users import these from :mod:`glue_runtime.etl`; they live here so that the stages (maps,
transform) can use them without importing the loader, which imports the maps (no cycle:
``etl -> stages.maps -> etl_types``).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from glue_runtime.errors import ConfigError, TransformError

HOOKS = ("schema", "start_stream", "transform", "end_stream")

# A key a transform may set in ctx.state (in schema()): the fields its records may change; every
# other field is passed through as the same value. Validation then checks only these fields.
# Declarative maps set it; a script may too, when it knows.
CHANGED_FIELDS = "__glue_changed_fields__"

# Where the declarative maps keep, in their stream's ctx.state, the stream's record work as
# declarative steps (a stages.plan.MapSteps) when it compiles; read through
# ``Script.record_steps``, never by the stage directly. Present means "takes the compiled path".
FAST_RECORD = "__glue_fast_record__"


class Out(NamedTuple):
    """A record for another output stream (declared with ``ctx.declare_stream``, or an input
    stream's output), as an item of what ``transform``/``start_stream``/``end_stream`` return."""

    stream: str
    record: dict[str, Any]


@dataclass(frozen=True)
class JobContext:
    """What the job knows about itself; None where the runner has no such thing yet."""

    flow: str | None = None
    tenant: str | None = None
    job_id: str | None = None
    connector: str | None = None  # a workspace run's supported connector id (its source)


class _Declarer(Protocol):
    """What a Context needs from the stage: a way to declare output streams."""

    def declare(
        self, name: str, schema: dict[str, Any], keys: list[str], by: str
    ) -> object:  # pragma: no cover - the stage supplies the real one
        ...


class Context:
    """What a script knows about the stream it is working on. One per input stream.

    ``stream``, ``schema`` (the input's, do not change it), ``bookmark_properties``: the input.
    ``key_properties`` and ``output_stream``: the output, writable in ``schema()``.
    ``state``: a dict for the script's own use (counters, aggregates), kept for the stream.
    ``position``: 1-based number of the current record within the stream.
    ``flow``, ``tenant``, ``connector``, ``job_id``: the job's, None when unknown.
    ``log``: a logger.
    """

    __slots__ = (
        "_declarer",
        "bookmark_properties",
        "connector",
        "flow",
        "job_id",
        "key_properties",
        "log",
        "output_schema",
        "output_stream",
        "position",
        "schema",
        "state",
        "stream",
        "tenant",
    )

    def __init__(
        self,
        stream: str,
        schema: dict[str, Any],
        key_properties: Sequence[str] = (),
        *,
        bookmark_properties: Sequence[str] | None = None,
        job: JobContext | None = None,
        declarer: _Declarer | None = None,
    ) -> None:
        job = job or JobContext()
        self.stream = stream
        self.schema = schema
        self.key_properties: list[str] = list(key_properties or ())
        self.bookmark_properties = list(bookmark_properties) if bookmark_properties else None
        self.output_stream: str | None = stream
        self.output_schema: dict[str, Any] = schema
        self.flow = job.flow
        self.tenant = job.tenant
        self.connector = job.connector
        self.job_id = job.job_id
        self.log = logging.getLogger(f"glue_runtime.etl.{stream}")
        self.state: dict[str, Any] = {}
        self.position = 0
        self._declarer = declarer

    def declare_stream(
        self, name: str, schema: dict[str, Any], key_properties: Sequence[str] = ()
    ) -> None:
        """Declare an output stream the script writes with ``Out(name, record)``.

        Its SCHEMA reaches the targets before any record for it. Declaring the same stream
        again with the same schema is a no-op; with a different one, a new SCHEMA is sent.
        """
        if not isinstance(name, str) or not name:
            raise TransformError(f"declare_stream: the stream name must be a string, got {name!r}")
        if not isinstance(schema, dict):
            raise TransformError(
                f"declare_stream({name!r}): the schema must be a dict, got {type(schema).__name__}"
            )
        if self._declarer is None:
            raise TransformError("declare_stream() can only be called while the stage runs")
        self._declarer.declare(name, schema, list(key_properties or ()), self.stream)

    def reshape(
        self,
        *,
        drop: Iterable[str] = (),
        rename: Mapping[str, str] | None = None,
        add: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The input schema with fields dropped, renamed and added; key properties follow renames.

        Meant for ``schema()``: ``return ctx.reshape(drop=["password"], rename={"id": "user_id"},
        add={"full_name": {"type": ["string", "null"]}})``. Dropping a key property is an
        error unless ``ctx.key_properties`` was changed first.
        """
        out, keys = reshape(
            self.schema, drop=drop, rename=rename, add=add, key_properties=self.key_properties
        )
        missing = [k for k in keys if k not in out.get("properties", {})]
        if missing:
            raise TransformError(
                f"stream {self.stream!r}: reshape() drops key propert"
                f"{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))}",
                hint="set ctx.key_properties to the new key (or []) before reshape()",
            )
        self.key_properties = keys
        return out

    def __repr__(self) -> str:
        return f"Context(stream={self.stream!r}, position={self.position})"


def reshape(
    schema: dict[str, Any],
    *,
    drop: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    add: Mapping[str, dict[str, Any]] | None = None,
    key_properties: Sequence[str] = (),
) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``schema`` with top-level fields dropped, renamed and added, and the key
    properties with the renames applied. Unknown names in drop/rename are errors."""
    out = copy.deepcopy(schema)
    props: dict[str, Any] = out.setdefault("properties", {})
    required = list(out.get("required", []))
    rename = dict(rename or {})
    for name in [*drop, *rename]:
        if name not in props:
            raise TransformError(
                f"reshape: field {name!r} is not in the schema",
                hint=f"fields: {', '.join(props) or '(none)'}",
            )
    for name in drop:
        props.pop(name, None)
        required = [r for r in required if r != name]
    if rename:
        out["properties"] = props = {rename.get(k, k): v for k, v in props.items()}
        required = [rename.get(r, r) for r in required]
    for name, sub in (add or {}).items():
        props[name] = sub
    if "required" in out:
        out["required"] = required
    keys = [rename.get(k, k) for k in key_properties]
    return out, keys


@dataclass
class Script:
    """A loaded ETL script (or a compiled declarative map): its hooks, None where not defined.

    ``trusted`` scripts (the declarative maps) get the record itself instead of a read-only
    view: they are known not to change it.
    """

    name: str
    transform: Callable[..., Any] | None = None
    schema: Callable[..., Any] | None = None
    start_stream: Callable[..., Any] | None = None
    end_stream: Callable[..., Any] | None = None
    hold_state: bool = True
    path: Path | None = None
    trusted: bool = False
    frames_from: tuple[str, ...] = field(default=())
    # Trusted scripts (the declarative maps) only: after schema(), the stream's record work
    # as declarative steps (a stages.plan.MapSteps), which the stage compiles into the
    # stream's record function; None where the script must be called per record.
    record_steps: Callable[[Context], Any] | None = None

    @property
    def holds_state(self) -> bool:
        return self.end_stream is not None and self.hold_state


def script_from_functions(name: str = "<script>", **hooks: Any) -> Script:
    """A Script from plain functions (for the Python API and tests):
    ``script_from_functions(transform=f, schema=g)``."""
    unknown = set(hooks) - {*HOOKS, "hold_state"}
    if unknown:
        raise ConfigError(f"unknown ETL hook(s): {', '.join(sorted(unknown))}; known: {HOOKS}")
    files = tuple(
        {
            fn.__code__.co_filename
            for fn in hooks.values()
            if callable(fn) and hasattr(fn, "__code__")
        }
    )
    return Script(name=name, frames_from=files, **hooks)


def format_script_traceback(exc: BaseException, frames_from: Sequence[str]) -> str:
    """The traceback of ``exc`` trimmed to the frames of the script's own files."""
    import traceback

    def mine(filename: str) -> bool:
        # An exact file, or (an entry ending in "/") a file directly in that folder.
        return any(
            filename == p or (p.endswith("/") and os.path.dirname(filename) + "/" == p)
            for p in frames_from
        )

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if mine(f.filename)]
    if not frames:
        return ""
    return "".join(traceback.format_list(frames)).rstrip("\n")


__all__ = [
    "CHANGED_FIELDS",
    "FAST_RECORD",
    "HOOKS",
    "Context",
    "JobContext",
    "Out",
    "Script",
    "format_script_traceback",
    "reshape",
    "script_from_functions",
]
