"""The transform stage: runs an ETL script (or declarative maps) over the message stream.

Per input stream, once per SCHEMA: the script's ``schema()`` hook decides the output stream,
schema and key properties; the output's SCHEMA goes out before any record of that shape.
Per RECORD: ``transform(view, ctx)`` with a read-only view of the record, then routing and
(for records the script built) validation against the output schema with fastjsonschema.

:class:`ScriptRunner` is that work for one pass; the stage's loop is
:mod:`glue_runtime.stages.stage`'s, which compiles each stream's plan (a declarative map's
steps with the checks of what they change, see :meth:`ScriptRunner.map_steps` and
:meth:`ScriptRunner.check_steps`) and calls :meth:`ScriptRunner.record`, the general path,
for scripts and for anything the compiled code does not cover.

Rules (docs/etl.md has the user-facing version):

- a record the script returns unchanged (``return record``) to an unchanged stream is the tap's
  message itself: not validated, written as the tap's bytes;
- a record the script built is validated against its output stream's schema (compiled once
  per schema, format checks off); ``validate`` is ``error`` (default), ``warn`` or ``off``;
- STATE is yielded only after every record before it (generator order). A script with an
  ``end_stream`` hook holds STATE until the end of input unless it sets ``HOLD_STATE = False``;
- a stream ends at the end of input or when a SCHEMA for it differs from the one before;
- BATCH messages cannot be transformed (their records are in files): an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import fastjsonschema
import orjson

from glue_runtime.errors import ConfigError, GlueError, RecordBeforeSchema, TransformError
from glue_runtime.etl import load_transform
from glue_runtime.etl_types import (
    CHANGED_FIELDS,
    Context,
    JobContext,
    Out,
    Script,
    format_script_traceback,
)
from glue_runtime.protocol import BATCH, RECORD, SCHEMA, Message, dumps_exact
from glue_runtime.stages import Stage
from glue_runtime.stages.maps import compile_maps
from glue_runtime.stages.plan import CheckSteps, FieldCheck, MapSteps

log = logging.getLogger("glue_runtime.transform")

Validate = Literal["error", "warn", "off"]
Guard = Literal["shallow", "deep"]
WARN_LIMIT = 10  # validation warnings logged per output stream before only counting

_JSON_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    Decimal: "number",  # a number a float cannot hold (see protocol.exact_number)
}


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value)) or type(value).__name__


@dataclass
class TransformStats:
    """Counts the stage keeps: records in per input stream, out per output stream, and
    records that failed validation under ``validate="warn"``."""

    records_in: dict[str, int] = field(default_factory=dict)
    records_out: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)


_validator_cache: dict[bytes, Any] = {}


def compile_validator(schema: dict[str, Any], stream: str) -> Any:
    """A fastjsonschema validator for an output schema, compiled once per distinct schema."""
    key = dumps_exact(schema, orjson.OPT_SORT_KEYS)  # a schema may hold exact numbers too
    fn = _validator_cache.get(key)
    if fn is None:
        # "$schema" naming a draft fastjsonschema does not know (singer-sdk writes 2020-12)
        # would refuse to compile; Singer schemas use nothing past draft 7.
        definition = {k: v for k, v in schema.items() if k != "$schema"}
        try:
            fn = fastjsonschema.compile(definition, use_formats=False)
        except Exception as exc:
            raise TransformError(
                f"the output schema of stream {stream!r} is not a valid JSON schema: {exc}",
                hint="check what the script's schema() or declare_stream() returns",
            ) from None
        if len(_validator_cache) < 1024:
            _validator_cache[key] = fn
    return fn


_MISSING = object()

# The Python types a JSON schema type surely accepts. A subset on purpose: anything else (a
# whole float for "integer", a subclass) goes to the compiled validator, which decides.
_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float, Decimal),
    "boolean": (bool,),
    "null": (type(None),),
}


def _plain_types(prop: Any) -> frozenset[type]:
    """Types a property schema of only ``{"type": ...}`` accepts outright (else: none)."""
    if not isinstance(prop, dict) or set(prop) != {"type"}:
        return frozenset()
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    if not all(isinstance(t, str) and t in _PLAIN_TYPES for t in types):
        return frozenset()
    return frozenset(py for t in types for py in _PLAIN_TYPES[t])


class _DeltaPlan:
    """How to check records of one output stream built from records of one input stream.

    Fields the script passed through (the very same value object as in the input record) whose
    schema is the same in input and output are not checked again: only what the script changed
    or added is. A record failing the quick check goes to the full validator, so verdicts and
    messages are always the full validator's.
    """

    __slots__ = ("checks", "closed", "in_schema", "out", "props", "required", "same")

    def __init__(self, out: _Output, in_schema: dict[str, Any]) -> None:
        out_props = out.schema.get("properties") or {}
        in_props = in_schema.get("properties") or {} if isinstance(in_schema, dict) else {}
        self.out = out
        self.in_schema = in_schema
        self.props = out_props
        self.same = frozenset(k for k, p in out_props.items() if k in in_props and in_props[k] == p)
        self.required = frozenset(out.schema.get("required") or ())
        self.closed = out.schema.get("additionalProperties") is False
        self.checks: dict[str, Any] = {}

    def check(self, name: str) -> Any:
        """The validator of one output property (None: the schema does not list it)."""
        fn = self.checks.get(name, _MISSING)
        if fn is _MISSING:
            prop = self.props.get(name)
            fn = None if prop is None else compile_validator(prop, self.out.name)
            self.checks[name] = fn
        return fn

    def passes(
        self, record: dict[str, Any], src_rec: dict[str, Any], only: frozenset[str] | None
    ) -> bool:
        if only is not None:  # the transform said which fields it changes
            for k in only:
                if k in record:
                    fn = self.check(k)
                    if fn is not None:
                        try:
                            fn(record[k])
                        except fastjsonschema.JsonSchemaValueException:
                            return False
            return record.keys() >= self.required
        same = self.same
        for k, v in record.items():
            if k in same and src_rec.get(k, _MISSING) is v:
                continue
            fn = self.check(k)
            if fn is None:
                if self.closed:
                    return False
                continue
            try:
                fn(v)
            except fastjsonschema.JsonSchemaValueException:
                return False
        return record.keys() >= self.required


class _Output:
    """One output stream: its current schema, key properties and (lazily) its validator."""

    __slots__ = (
        "count",
        "invalid",
        "key_properties",
        "msg",
        "name",
        "plans",
        "schema",
        "validator",
    )

    def __init__(self, name: str, schema: dict[str, Any], keys: list[str], msg: Message) -> None:
        self.name = name
        self.schema = schema
        self.key_properties = keys
        self.msg = msg
        self.validator: Any = None
        self.plans: dict[int, _DeltaPlan] = {}
        self.count = 0
        self.invalid = 0

    def plan_for(self, in_schema: dict[str, Any]) -> _DeltaPlan:
        plan = self.plans.get(id(in_schema))
        if plan is None or plan.in_schema is not in_schema:
            plan = self.plans[id(in_schema)] = _DeltaPlan(self, in_schema)
        return plan


class _Stream:
    """One input stream: its context, its own output (None: only Out(...) records), and
    whether records it passes through unchanged can go out as the input messages."""

    __slots__ = ("ctx", "in_msg", "out", "passthrough")

    def __init__(self, ctx: Context, in_msg: Message) -> None:
        self.ctx = ctx
        self.in_msg = in_msg
        self.out: _Output | None = None
        self.passthrough = False


def _same_schema_msg(a: Message, b: Message) -> bool:
    return (
        a["schema"] == b["schema"]
        and (a.get("key_properties") or []) == (b.get("key_properties") or [])
        and a.get("bookmark_properties") == b.get("bookmark_properties")
    )


class ScriptRunner:
    """The ETL script's side of one pass of a stage: its streams, outputs and hooks.

    The stage (:mod:`glue_runtime.stages.stage`) owns the loop: it calls :meth:`start` per
    SCHEMA, the stream's compiled record function per RECORD (which calls :meth:`record`, the
    general path, for scripts and for anything unusual), :meth:`other` for ACTIVATE_VERSION
    and BATCH, and :meth:`finish` at the end of input.
    """

    def __init__(self, script: Script, validate: Validate, job: JobContext, guard: Guard) -> None:
        self.script = script
        self.validate = validate
        self.job = job
        self.deep = guard == "deep" and not script.trusted
        self.streams: dict[str, _Stream] = {}
        self.outputs: dict[str, _Output] = {}
        self.pending: list[Message] = []  # SCHEMA messages to send before the next record

    # -- output streams -------------------------------------------------------------------

    def declare(
        self,
        name: str,
        schema: dict[str, Any],
        keys: list[str],
        by: str,
        *,
        bookmark: list[str] | None = None,
        source_msg: Message | None = None,
    ) -> _Output:
        """Register (or update) an output stream; queue its SCHEMA when it is new or changed."""
        props = schema.get("properties")
        if not isinstance(props, dict):
            raise TransformError(
                f"the output schema of stream {name!r} (from input stream {by!r}) has no "
                "'properties' object",
                hint='an output schema looks like {"type": "object", "properties": {...}}',
            )
        missing = [k for k in keys if k not in props]
        if missing:
            raise TransformError(
                f"output stream {name!r} (from input stream {by!r}): key propert"
                f"{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))} "
                "not in its schema",
                hint="a field that is a key was renamed or dropped: set ctx.key_properties "
                "(or use ctx.reshape, which follows renames)",
            )
        o = self.outputs.get(name)
        if o is not None and o.schema == schema and o.key_properties == keys:
            return o
        if source_msg is None:
            source_msg = {"type": SCHEMA, "stream": name, "schema": schema, "key_properties": keys}
            if bookmark:
                source_msg["bookmark_properties"] = bookmark
        if o is None:
            o = self.outputs[name] = _Output(name, schema, keys, source_msg)
        else:  # a schema change for an existing output: new validator, new SCHEMA
            o.schema, o.key_properties, o.msg, o.validator = schema, keys, source_msg, None
        self.pending.append(source_msg)
        return o

    def take_pending(self) -> list[Message]:
        out = self.pending[:]
        self.pending.clear()
        return out

    # -- errors ---------------------------------------------------------------------------

    def script_error(self, exc: Exception, hook: str, ctx: Context | None) -> TransformError:
        """A TransformError for an exception the script raised, with its trimmed traceback."""
        where = f"stream {ctx.stream!r}" if ctx is not None else "the script"
        if hook == "transform" and ctx is not None:
            where += f", record {ctx.position}"
        tb = format_script_traceback(exc, self.script.frames_from)
        text = str(exc)
        if isinstance(exc, (TypeError, AttributeError)) and "mappingproxy" in text:
            err = TransformError(
                f"ETL script {self.script.name} changed its input record in {hook}() "
                f"({where}): {type(exc).__name__}: {text}" + (f"\n{tb}" if tb else ""),
                hint="records given to transform() are read-only: build a new dict, "
                'e.g. return {**record, "field": value}, or copy first: r = dict(record)',
            )
        else:
            err = TransformError(
                f"ETL script {self.script.name} failed in {hook}() ({where}): "
                f"{type(exc).__name__}: {text}" + (f"\n{tb}" if tb else ""),
                hint="fix the script (run it on a saved sample with "
                "`python -m glue_runtime etl test SCRIPT --input FILE`)",
            )
        err.stream = ctx.stream if ctx else None  # type: ignore[attr-defined]
        err.position = ctx.position if ctx else None  # type: ignore[attr-defined]
        err.script_traceback = tb  # type: ignore[attr-defined]
        return err

    def invalid(self, o: _Output, record: dict[str, Any], exc: Any, ctx: Context) -> None:
        """Apply the validation policy to a record that failed its output schema."""
        name = exc.name or "data"
        fld = name[5:] if name.startswith("data.") else name[4:] if name != "data" else ""
        value_type = json_type(exc.value)
        rule = exc.message.replace(name, "", 1).strip() if exc.message else exc.rule
        where = f"stream {o.name!r}"
        if o.name != ctx.stream:
            where += f" (from input stream {ctx.stream!r})"
        text = (
            f"ETL output for {where}, record {ctx.position}: "
            + (f"field {fld!r}" if fld else "the record")
            + f" is {value_type}, but the output schema says it {rule}"
        )
        if self.validate == "warn":
            o.invalid += 1
            if o.invalid <= WARN_LIMIT:
                more = " (further ones only counted)" if o.invalid == WARN_LIMIT else ""
                log.warning(text + more)
            return
        raise TransformError(
            text,
            hint="make the script return that type, or declare the field's type in schema() "
            "(or in the map: {expr: ..., type: ...}); validate='warn' or 'off' lets it through",
        )

    # -- emitting -------------------------------------------------------------------------

    def _as_record(self, o: _Output, record: Any, ctx: Context) -> dict[str, Any]:
        if type(record) is dict:
            return record
        if isinstance(record, MappingProxyType):
            return dict(record)
        if isinstance(record, dict):
            return record
        raise TransformError(
            f"ETL script {self.script.name} gave a {type(record).__name__} as a record "
            f"for stream {o.name!r} (stream {ctx.stream!r}, record {ctx.position})",
            hint="a record is a dict of field -> JSON value",
        )

    def _validate(
        self, o: _Output, record: dict[str, Any], src: Message | None, ctx: Context
    ) -> None:
        if self.validate == "off":
            return
        if src is not None and o.plan_for(ctx.schema).passes(
            record, src["record"], ctx.state.get(CHANGED_FIELDS)
        ):
            return
        v = o.validator
        if v is None:
            v = o.validator = compile_validator(o.schema, o.name)
        try:
            v(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            self.invalid(o, record, exc, ctx)

    def record_msg(self, o: _Output, record: Any, src: Message | None, ctx: Context) -> Message:
        """A RECORD message for output ``o``, validated per the policy."""
        record = self._as_record(o, record, ctx)
        self._validate(o, record, src, ctx)
        o.count += 1
        msg: Message = {"type": RECORD, "stream": o.name, "record": record}
        if src is not None and len(src) > 3:
            if "version" in src:
                msg["version"] = src["version"]
            if "time_extracted" in src:
                msg["time_extracted"] = src["time_extracted"]
        return msg

    def _where(self, ctx: Context, hook: str) -> str:
        return f"stream {ctx.stream!r}" + (
            f", record {ctx.position})" if hook == "transform" else ")"
        )

    def _item(self, item: Any, s: _Stream, src: Message | None, hook: str) -> Message:
        """One item of what a hook returned as several records."""
        ctx = s.ctx
        if type(item) is Out:
            o = self.outputs.get(item.stream)
            if o is None:
                raise TransformError(
                    f"ETL script {self.script.name} sent a record to stream "
                    f"{item.stream!r}, which has no schema (from stream {ctx.stream!r}, "
                    f"{hook}()" + (f", record {ctx.position})" if hook == "transform" else ")"),
                    hint="declare it first: ctx.declare_stream(name, schema, key_properties)"
                    " in schema() or start_stream()",
                )
            return self.record_msg(o, item.record, src, ctx)
        if isinstance(item, (dict, MappingProxyType)):
            return self.record_msg(self.own_output(s, hook), item, src, ctx)
        raise TransformError(
            f"ETL script {self.script.name}: {hook}() gave a {type(item).__name__} "
            f"among its records ({self._where(ctx, hook)}",
            hint="each item must be a dict or Out(stream, record)",
        )

    def many(self, result: Any, s: _Stream, src: Message | None, hook: str) -> list[Message]:
        """Route what a hook returned as several records (an iterable of dicts / Out)."""
        ctx = s.ctx
        if isinstance(result, (str, bytes, Mapping)) or not hasattr(result, "__iter__"):
            raise TransformError(
                f"ETL script {self.script.name}: {hook}() returned a "
                f"{type(result).__name__} ({self._where(ctx, hook)}",
                hint="return a dict (one record), None (drop it), or a list/generator of "
                "dicts and Out(stream, record)",
            )
        it = iter(result)
        out: list[Message] = []
        while True:
            try:
                item = next(it)
            except StopIteration:
                break
            except Exception as exc:
                raise self.script_error(exc, hook, ctx) from None
            out += self.take_pending()
            out.append(self._item(item, s, src, hook))
        return out

    def own_output(self, s: _Stream, hook: str) -> _Output:
        if s.out is None:
            raise TransformError(
                f"ETL script {self.script.name}: {hook}() returned a plain record for stream "
                f"{s.ctx.stream!r}, which has no output of its own (ctx.output_stream is None)",
                hint="send it to a declared stream with Out(stream, record)",
            )
        return s.out

    # -- streams --------------------------------------------------------------------------

    def start(self, msg: Message) -> list[Message]:
        """A SCHEMA message: (re)start its input stream, decide its output; the messages to
        send (output SCHEMAs, records from start_stream)."""
        name = msg["stream"]
        if not isinstance(msg["schema"], dict):
            raise TransformError(f"SCHEMA for stream {name!r} has a schema that is not an object")
        out: list[Message] = []
        old = self.streams.get(name)
        if old is not None:
            if _same_schema_msg(old.in_msg, msg):
                # A re-sent, identical SCHEMA does not end the stream; the targets see it again.
                if old.passthrough:
                    return [msg]
                return [old.out.msg] if old.out is not None else []
            out += self.end(old)
        s = self._new_stream(msg)
        out += self.take_pending()
        return out + self._start_hook(s)

    def _new_stream(self, msg: Message) -> _Stream:
        """A stream's context and output, from the script's schema() hook."""
        name, schema = msg["stream"], msg["schema"]
        keys = list(msg.get("key_properties") or [])
        bookmark = msg.get("bookmark_properties")
        ctx = Context(name, schema, keys, bookmark_properties=bookmark, job=self.job, declarer=self)
        s = self.streams[name] = _Stream(ctx, msg)
        out_schema = self._schema_hook(name, schema, ctx)
        ctx.output_schema = out_schema
        ctx.key_properties = list(ctx.key_properties or [])
        out_name = ctx.output_stream
        if out_name is not None:
            same = out_name == name and out_schema is schema and ctx.key_properties == keys
            s.out = self.declare(
                out_name,
                out_schema,
                ctx.key_properties,
                name,
                bookmark=bookmark,
                source_msg=msg if same else None,
            )
            s.passthrough = same
        return s

    def _schema_hook(self, name: str, schema: dict[str, Any], ctx: Context) -> dict[str, Any]:
        hook = self.script.schema
        if hook is None:
            return schema
        try:
            out_schema = hook(name, schema, ctx)
        except GlueError:
            raise
        except Exception as exc:
            raise self.script_error(exc, "schema", ctx) from None
        if out_schema is None:
            return schema
        if not isinstance(out_schema, dict):
            raise TransformError(
                f"ETL script {self.script.name}: schema() returned a "
                f"{type(out_schema).__name__} for stream {name!r}",
                hint="return the output JSON schema (a dict), or None to keep it",
            )
        return out_schema

    def _call_hook(self, hook: Callable[[Any], Any], name: str, s: _Stream) -> Any:
        """Call a stream hook of the script; its exception becomes a TransformError naming it."""
        try:
            return hook(s.ctx)
        except GlueError:
            raise
        except Exception as exc:
            raise self.script_error(exc, name, s.ctx) from None

    def _start_hook(self, s: _Stream) -> list[Message]:
        hook = self.script.start_stream
        if hook is None:
            return []
        result = self._call_hook(hook, "start_stream", s)
        out = self.many(result, s, None, "start_stream") if result is not None else []
        return out + self.take_pending()

    def end(self, s: _Stream) -> list[Message]:
        """The end of an input stream: its end_stream hook's records."""
        hook = self.script.end_stream
        if hook is None:
            return []
        result = self._call_hook(hook, "end_stream", s)
        out: list[Message] = []
        if result is not None:
            if isinstance(result, (dict, MappingProxyType)):
                result = [result]
            out = self.many(result, s, None, "end_stream")
        return out + self.take_pending()

    def finish(self) -> list[Message]:
        """The end of input: every stream's end_stream records."""
        out: list[Message] = []
        for s in list(self.streams.values()):
            out += self.end(s)
        return out

    def no_schema(self, msg: Message) -> TransformError:
        name = msg["stream"]
        known = ", ".join(repr(n) for n in self.streams) or "none yet"
        return RecordBeforeSchema(
            f"{msg['type']} for stream {name!r} arrived before any SCHEMA for it, and ETL "
            f"script {self.script.name} needs the stream's schema (streams with a schema: "
            f"{known})",
            hint="the tap must send a stream's SCHEMA before its first RECORD; without an ETL "
            "script or maps such a record is passed on as is, with a warning",
        )

    def other(self, msg: Message) -> Message | None:
        """ACTIVATE_VERSION (follows its stream's output) and BATCH (refused)."""
        if msg["type"] == BATCH:
            raise TransformError(
                f"BATCH message for stream {msg.get('stream')!r}: an ETL script or map "
                "cannot transform records that sit in batch files",
                hint="turn off the tap's batch mode (batch_config) for flows with ETL",
            )
        st = self.streams.get(msg["stream"])
        if st is None:
            raise self.no_schema(msg)
        if st.out is None:
            return None
        if st.out.name == msg["stream"]:
            return msg
        return {**msg, "stream": st.out.name}

    # -- the plan's parts -----------------------------------------------------------------

    def passes(self, s: _Stream) -> bool:
        """Whether the stream's records leave the script as they came (the same messages)."""
        if not s.passthrough:
            return False
        if self.script.transform is None:
            return True
        steps = self.map_steps(s)
        return steps is not None and not steps.steps and steps.keep_others

    def map_steps(self, s: _Stream) -> MapSteps | None:
        """A declarative map's steps for the stream, when it can be compiled (else None)."""
        describe = self.script.record_steps
        if describe is None or s.out is None:
            return None
        steps = describe(s.ctx)
        return steps if isinstance(steps, MapSteps) else None

    def check_steps(self, s: _Stream, steps: MapSteps) -> CheckSteps | None:
        """The checks of what the map changes, against the output schema (as _DeltaPlan)."""
        if s.out is None:
            return None
        if self.validate == "off":
            return CheckSteps("off", (), ())
        plan = s.out.plan_for(s.ctx.schema)
        fields = tuple(
            FieldCheck(k, plan.props.get(k), _plain_types(plan.props.get(k)), plan.check(k))
            for k in sorted(steps.changed)
            if plan.check(k) is not None
        )
        return CheckSteps(self.validate, fields, tuple(sorted(plan.required)))

    # -- the general path for one record --------------------------------------------------

    def _call(self, s: _Stream, msg: Message) -> tuple[Any, Any]:
        """The script's transform on one record: (what it returned, the view it got)."""
        rec = msg["record"]
        view = rec if self.script.trusted else MappingProxyType(rec)
        before = dumps_exact(rec) if self.deep else None
        try:
            out = self.script.transform(view, s.ctx)  # type: ignore[misc]
        except GlueError:
            raise
        except Exception as exc:
            raise self.script_error(exc, "transform", s.ctx) from None
        if before is not None and dumps_exact(rec) != before:
            raise TransformError(
                f"ETL script {self.script.name} changed a nested value of its input "
                f"record (stream {s.ctx.stream!r}, record {s.ctx.position})",
                hint="copy nested objects before changing them "
                "(copy.deepcopy(record[...])), and return a new dict",
            )
        return out, view

    def _unchanged(self, s: _Stream, msg: Message) -> Message:
        """A record the script passed through as it came."""
        if s.passthrough:
            return msg
        return self.record_msg(self.own_output(s, "transform"), msg["record"], msg, s.ctx)

    def record(self, s: _Stream, msg: Message, position: int) -> Message | list[Message] | None:
        """One RECORD through the script: the message(s) to send (None: dropped)."""
        s.ctx.position = position
        if self.script.transform is None:
            if s.out is None:
                return None
            return self._unchanged(s, msg)
        out, view = self._call(s, msg)
        pending = self.take_pending() if self.pending else None
        if out is view:
            result: Message | list[Message] | None = self._unchanged(s, msg)
        elif type(out) is dict:
            result = self.record_msg(self.own_output(s, "transform"), out, msg, s.ctx)
        elif out is None:
            result = None
        else:
            result = self.many(out, s, msg, "transform")
        if not pending:
            return result
        return pending + (result if isinstance(result, list) else [result] if result else [])

    def record_stats(self, stats: TransformStats, fast_out: dict[str, int]) -> None:
        for n, st in self.streams.items():
            stats.records_in[n] = stats.records_in.get(n, 0) + st.ctx.position
        for n, o in self.outputs.items():
            count = o.count + fast_out.get(n, 0)
            stats.records_out[n] = stats.records_out.get(n, 0) + count
            if o.invalid:
                stats.invalid[n] = stats.invalid.get(n, 0) + o.invalid


@dataclass(frozen=True)
class TransformConfig:
    """A stage's transform: the script (or maps), the validation policy, the job, the counts."""

    script: Script
    validate: Validate
    job: JobContext
    stats: TransformStats | None
    guard: Guard

    def start(self) -> ScriptRunner:
        return ScriptRunner(self.script, self.validate, self.job, self.guard)


def _script_of(script_or_maps: Script | str | Path | Mapping[str, Any]) -> Script:
    if isinstance(script_or_maps, Script):
        return script_or_maps
    if isinstance(script_or_maps, (str, Path)):
        return load_transform(script_or_maps)
    if isinstance(script_or_maps, Mapping):
        return compile_maps(script_or_maps)
    raise ConfigError(
        f"make_transform: expected a Script, a path or a maps dict, got "
        f"{type(script_or_maps).__name__}"
    )


def _job_of(job_context: JobContext | Mapping[str, Any] | None) -> JobContext:
    if job_context is None:
        return JobContext()
    if isinstance(job_context, JobContext):
        return job_context
    return JobContext(
        flow=job_context.get("flow"),
        tenant=job_context.get("tenant"),
        job_id=job_context.get("job_id"),
        connector=job_context.get("connector"),
    )


def make_transform(
    script_or_maps: Script | str | Path | Mapping[str, Any],
    *,
    validate: Validate = "error",
    job_context: JobContext | Mapping[str, Any] | None = None,
    stats: TransformStats | None = None,
    guard: Guard = "shallow",
) -> Stage:
    """The transform stage for an ETL script or declarative maps.

    ``script_or_maps``: a loaded :class:`Script`, a path (``.py`` script, or ``.json``/``.yml``
    maps), or a maps config dict (``{"stream_maps": ..., "stream_map_config": ...}``).
    ``validate``: what a record the script built that does not fit its output schema does:
    ``error`` (TransformError), ``warn`` (log, count in ``stats.invalid``, pass), ``off``.
    ``guard="deep"`` also catches changes to nested values of the input record (it compares
    a serialised copy per record: for ``etl test`` and tests, not production runs).
    Applied to a field map stage's output, it fuses with it into one stage.
    """
    from glue_runtime.stages.stage import PlanStage

    script = _script_of(script_or_maps)
    if validate not in ("error", "warn", "off"):
        raise ConfigError(f"validate must be error, warn or off (got {validate!r})")
    if guard not in ("shallow", "deep"):
        raise ConfigError(f"guard must be shallow or deep (got {guard!r})")
    config = TransformConfig(script, validate, _job_of(job_context), stats, guard)
    return PlanStage(f"ETL {script.name}", transform=config)


__all__ = [
    "ScriptRunner",
    "TransformConfig",
    "TransformStats",
    "compile_validator",
    "json_type",
    "make_transform",
]
