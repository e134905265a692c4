"""Declarative maps: rename, drop, compute, hash, filter and split streams without Python.

The config is singer-sdk's stream-map syntax, so a Meltano user's maps run unchanged::

    stream_maps:
      customers:
        __alias__: clients                 # rename the stream
        __filter__: "country == 'NL'"      # keep records where this is true
        email_hash: "sha256(email)"        # computed property (simpleeval expression)
        email: null                        # drop a property
        __else__: null                     # drop every property not listed (keys stay)
        __key_properties__: [id]           # override the key
      customers_copy: {__source__: customers, id: id}   # a second stream from the same source
      "audit_*": null                      # drop whole streams (glob)
      __else__: null                       # drop every stream not listed
    stream_map_config: {salt: "..."}       # `config` inside expressions

Two glue extensions (dicts as property values, which singer-sdk rejects, so no clash):

- ``prop: {expr: "<expression>", type: "integer"}``: a computed field with its output type
  stated (a type name: string, integer, number, boolean, object, array, date, date-time, time;
  made nullable; or a full JSON schema dict, used as is);
- ``prop: {from: "<field>"}``: rename a field: the value and schema move, the old field goes,
  and key properties and ``required`` follow.

A plain-string expression gets its type the way singer-sdk guesses it (see docs/etl.md):
``int(``/``float(``/``str(``/``bool(``/``json.dumps(``/``datetime...`` prefixes, a quoted
literal is a string, an existing field keeps its schema, ``new: old`` copies old's schema, and
anything else is a string. The output is validated, so a wrong guess is a clear error that
points at the typed form.

Everything is parsed and checked once when the maps are compiled (a ConfigError before any
data moves); expressions are compiled once per stream and the names dict is built once per
record, not per property.
"""

from __future__ import annotations

import ast
import copy
import datetime
import fnmatch
import hashlib
import json
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import simpleeval

from glue_runtime.errors import ConfigError, TransformError
from glue_runtime.etl_types import CHANGED_FIELDS, FAST_RECORD, Context, Out, Script
from glue_runtime.stages.plan import MapSteps, Step

ELSE = "__else__"
FILTER = "__filter__"
SOURCE = "__source__"
ALIAS = "__alias__"
KEYS = "__key_properties__"
NULL = "__NULL__"
SDK_EMPTY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "$schema": "https://json-schema.org/draft/2020-12/schema",
}
TYPE_NAMES: dict[str, dict[str, Any]] = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "object": {"type": ["object", "null"]},
    "array": {"type": ["array", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "date-time": {"type": ["string", "null"], "format": "date-time"},
    "time": {"type": ["string", "null"], "format": "time"},
}
UNSUPPORTED_TOP = ("flattening_enabled", "flattening_max_depth")

_DROP, _EXPR, _RENAME = 0, 1, 2
_SLOW = object()


def md5(string: str) -> str:
    """Hex MD5 of a string's UTF-8 bytes (singer-sdk's ``md5``)."""
    return hashlib.md5(string.encode("utf-8")).hexdigest()


def sha256(string: str) -> str:
    """Hex SHA-256 of a string's UTF-8 bytes (singer-sdk's ``sha256``)."""
    return hashlib.sha256(string.encode("utf-8")).hexdigest()


def mask(value: Any, keep: int = 4, char: str = "*") -> Any:
    """``value`` as a string with all but its last ``keep`` characters replaced; None stays."""
    if value is None:
        return None
    text = str(value)
    shown = text[-keep:] if keep > 0 else ""
    return char * (len(text) - len(shown)) + shown


def _json_dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps that also writes Decimals (numbers a float cannot hold) as their digits,
    unquoted, in the stdlib's layout; anything else as json.dumps does."""
    try:
        return json.dumps(value, **kwargs)
    except TypeError:
        pass
    digits: dict[str, str] = {}

    def mark(v: Any) -> Any:
        if isinstance(v, Decimal):
            key = f"\x00glue-decimal-{len(digits)}\x00"
            digits[key] = str(v) if v.is_finite() else "null"
            return key
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(value), **kwargs)
    for key, number in digits.items():  # a NUL is always escaped, so no string holds the mark
        text = text.replace(json.dumps(key), number)
    return text


_JSON = types.ModuleType("json", "the json module for expressions (Decimals written exactly)")
_JSON.dumps = _json_dumps  # type: ignore[attr-defined]
_JSON.loads = json.loads  # type: ignore[attr-defined]


def functions() -> dict[str, Any]:
    """The functions expressions can call: singer-sdk's set, plus ``mask``, ``round``, ``abs``,
    ``len``, ``min`` and ``max``."""
    funcs: dict[str, Any] = dict(simpleeval.DEFAULT_FUNCTIONS)
    funcs.update(
        md5=md5,
        sha256=sha256,
        mask=mask,
        round=round,
        abs=abs,
        len=len,
        min=min,
        max=max,
        datetime=simpleeval.ModuleWrapper(datetime),
        bool=bool,
        json=simpleeval.ModuleWrapper(_JSON),
    )
    return funcs


class _Eval(simpleeval.EvalWithCompoundTypes):
    """simpleeval without its per-name container scan (as singer-sdk does): names come from
    JSON records and config, which cannot hold modules; module functions are ModuleWrappers."""

    def _check_disallowed_items(self, item: Any) -> None:
        return


# -- compiling simple expressions -------------------------------------------------------------
#
# simpleeval walks the expression tree for every record (a few microseconds each). Most map
# expressions are arithmetic, comparisons, conditionals, subscripts and calls of the map
# functions: those are compiled once into Python code over the same names, with no builtins
# and no attribute access, and with simpleeval's own guarded + and * (string-size limits).
# Anything else (attributes, comprehensions, f-strings, **) stays with simpleeval.

_FAST_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Subscript,
    ast.Slice,
    ast.Call,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Is,
    ast.IsNot,
    ast.In,
    ast.NotIn,
)
_FN_PREFIX = "__glue_fn_"


class _Guard(ast.NodeTransformer):
    """Rewrites ``a + b`` / ``a * b`` to simpleeval's guarded versions, and calls of map
    functions to names no record field can shadow (simpleeval keeps functions apart too)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        guarded = {ast.Add: "safe_add", ast.Mult: "safe_mult"}.get(type(node.op))
        if guarded is None:
            return node
        fn = ast.Name(id=_FN_PREFIX + guarded, ctx=ast.Load())
        return ast.Call(func=fn, args=[node.left, node.right], keywords=[])

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        assert isinstance(node.func, ast.Name)
        node.func = ast.Name(id=_FN_PREFIX + node.func.id, ctx=ast.Load())
        return node


def guarded_tree(parsed: ast.Expr, functions: dict[str, Any]) -> ast.Expression | None:
    """A simple expression's tree with the guards in, or None when simpleeval must evaluate it."""
    tree = ast.Expression(body=copy.deepcopy(parsed.value))
    for node in ast.walk(tree):
        if not isinstance(node, _FAST_NODES):
            return None
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in functions:
                return None
            if node.keywords:
                return None
        if isinstance(node, ast.Name) and node.id.startswith(_FN_PREFIX):
            return None
    guarded = _Guard().visit(tree)
    assert isinstance(guarded, ast.Expression)
    return ast.fix_missing_locations(guarded)


def compile_fast(parsed: ast.Expr, functions: dict[str, Any]) -> Any:
    """Python code for a simple expression, or None when simpleeval must evaluate it."""
    tree = guarded_tree(parsed, functions)
    return None if tree is None else compile(tree, "<map expression>", "eval")


def fast_globals(functions: dict[str, Any]) -> dict[str, Any]:
    # No builtins (not an empty dict: CPython cannot specialise name lookups with one).
    env: dict[str, Any] = {"__builtins__": {"__glue_no_builtins__": None}}
    env.update({_FN_PREFIX + name: fn for name, fn in functions.items()})
    env[_FN_PREFIX + "safe_add"] = simpleeval.safe_add
    env[_FN_PREFIX + "safe_mult"] = simpleeval.safe_mult
    return env


def _parse(expr: Any, where: str) -> ast.Expr:
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"{where}: expected an expression string, got {expr!r}")
    try:
        node = ast.parse(expr.strip()).body[0]
    except (SyntaxError, IndexError) as exc:
        raise ConfigError(
            f"{where}: cannot parse the expression {expr!r}: {getattr(exc, 'msg', exc)}"
        ) from None
    if not isinstance(node, ast.Expr):
        raise ConfigError(f"{where}: {expr!r} is a statement, not an expression")
    return node


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """singer-sdk's ``append_type(schema, "null")`` (with a valid anyOf item)."""
    out = copy.deepcopy(schema)
    if "anyOf" in out:
        if {"type": "null"} not in out["anyOf"]:
            out["anyOf"].append({"type": "null"})
        return out
    if "oneOf" in out:
        out["oneOf"].append({"type": "null"})
        return out
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        if "null" not in types:
            out["type"] = [*types, "null"]
    return out


def sdk_type(expr: str, default: dict[str, Any] | None, raw_schema: dict[str, Any]) -> dict:
    """The schema singer-sdk guesses for a plain-string expression (``_eval_type``)."""
    if expr == "record":
        return raw_schema
    if expr.startswith("float("):
        return {"type": ["number"]}
    if expr.startswith("int("):
        return {"type": ["integer"]}
    if expr.startswith(("str(", "json.dumps(")):
        return {"type": ["string"]}
    if expr.startswith("bool("):
        return {"type": ["boolean"]}
    if expr.startswith(("datetime.date.", "datetime.date(")) or expr.endswith(".date()"):
        return {"type": ["string"], "format": "date"}
    if expr.startswith(("datetime.datetime.", "datetime.datetime(")):
        return {"type": ["string"], "format": "date-time"}
    if expr[0] == "'" and expr[-1] == "'":
        return {"type": ["string"]}
    return default or {"type": ["string"]}


@dataclass
class _MapDef:
    """One stream map entry as configured (checked once, when the maps are compiled)."""

    key: str
    source: str  # the input stream name or glob it applies to
    alias: str | None  # __alias__ as written (evaluated per stream), None for the key
    primary: bool  # False for __source__ entries (an extra output stream)
    remove: bool = False
    filter: tuple[str, ast.Expr] | None = None
    include: bool = True  # False with __else__: null
    keys: list[str] | None = None
    keys_set: bool = False
    props: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class _Mapper:
    """A map entry resolved for one input stream: output name, schema, keys, operations."""

    alias: str
    schema: dict[str, Any]
    keys: list[str]
    include: bool
    filter: tuple[str, ast.Expr] | None
    ops: list[tuple[str, int, Any, str]]  # (prop, kind, parsed expr | source field, text)
    same: bool = False  # no change at all (singer-sdk's SameRecordTransform)
    remove: bool = False  # no output (RemoveRecordTransform)


def _check_def(key: str, value: Any) -> _MapDef:
    where = f"stream_maps.{key}"
    if value is None or value == NULL:
        return _MapDef(key, key, None, True, remove=True)
    if isinstance(value, str):
        raise ConfigError(
            f"{where}: a stream map is a mapping of properties or null, not the string {value!r}"
        )
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping or null, got {type(value).__name__}")
    d = dict(value)
    m = _def_head(key, d, where)
    _def_options(m, d, where)
    m.props = [(prop, _prop_spec(f"{where}.{prop}", spec)) for prop, spec in d.items()]
    return m


def _def_head(key: str, d: dict[str, Any], where: str) -> _MapDef:
    """The entry's input stream and output name (``__source__`` / ``__alias__``)."""
    if SOURCE in d:
        source = d.pop(SOURCE)
        if not isinstance(source, str):
            raise ConfigError(f"{where}.{SOURCE} must be a stream name, got {source!r}")
        return _MapDef(key, source, None, False)
    alias = None
    if ALIAS in d:
        alias = d.pop(ALIAS)
        if not isinstance(alias, str) or not alias:
            raise ConfigError(f"{where}.{ALIAS} must be a stream name, got {alias!r}")
    return _MapDef(key, key, alias, True)


def _def_options(m: _MapDef, d: dict[str, Any], where: str) -> None:
    """``__filter__``, ``__key_properties__`` and ``__else__``."""
    if FILTER in d:
        rule = d.pop(FILTER)
        if rule is not None:
            m.filter = (rule, _parse(rule, f"{where}.{FILTER}"))
    if KEYS in d:
        keys = d.pop(KEYS)
        if keys is not None and (
            not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
        ):
            raise ConfigError(f"{where}.{KEYS} must be a list of field names or null")
        m.keys, m.keys_set = keys, True
    if ELSE in d:
        if d.pop(ELSE) not in (None, NULL):
            raise ConfigError(f"{where}.{ELSE}: the only value allowed is null")
        m.include = False


def _prop_spec(pw: str, spec: Any) -> Any:
    """One property's spec: None (drop), (text, parsed) (singer-sdk's guessed type), or a
    dict: ``{"from": field}`` or ``{"expr": (text, parsed), "schema": ...}``."""
    if spec is None or spec == NULL:
        return None
    if isinstance(spec, str):
        return (spec, _parse(spec, pw))
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{pw}: expected an expression, null, or {{expr, type}} / {{from}}, "
            f"got {type(spec).__name__}"
        )
    unknown = set(spec) - {"expr", "type", "from"}
    if unknown or ("expr" in spec) == ("from" in spec):
        raise ConfigError(
            f"{pw}: a typed property is {{expr: ..., type: ...}} or {{from: field}}"
            + (f" (unknown keys: {', '.join(sorted(unknown))})" if unknown else ""),
            hint='e.g.  total: {expr: "price * qty", type: number}',
        )
    if "from" in spec:
        if not isinstance(spec["from"], str) or "type" in spec:
            raise ConfigError(f"{pw}: from must be a field name (and takes no type)")
        return {"from": spec["from"]}
    return {
        "expr": (spec["expr"], _parse(spec["expr"], pw)),
        "schema": _typed(pw, spec.get("type")),
    }


def _typed(pw: str, typ: Any) -> dict[str, Any]:
    if isinstance(typ, str) and typ in TYPE_NAMES:
        return TYPE_NAMES[typ]
    if isinstance(typ, Mapping):
        return dict(typ)
    raise ConfigError(
        f"{pw}: type must be one of {', '.join(TYPE_NAMES)} or a JSON schema object (got {typ!r})",
        hint="the type of a computed field is stated, not guessed",
    )


def _eval_alias(expr: str, stream: str) -> str:
    """singer-sdk's ``_eval_stream``: an expression over ``__stream_name__``, else literal."""
    try:
        result = _Eval(names={"__stream_name__": stream}).eval(expr)
    except simpleeval.NameNotDefined:
        return expr
    except (simpleeval.InvalidExpression, SyntaxError) as exc:
        raise ConfigError(f"__alias__ {expr!r} for stream {stream!r}: {exc}") from None
    if not isinstance(result, str) or not result:
        raise ConfigError(f"__alias__ {expr!r} for stream {stream!r} gave {result!r}")
    return result


class Maps:
    """Compiled stream maps: resolve per input stream (once per SCHEMA), apply per record."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not isinstance(config, Mapping):
            raise ConfigError("maps config must be a mapping with a stream_maps key")
        for key in UNSUPPORTED_TOP:
            if config.get(key):
                raise ConfigError(
                    f"maps: {key} (schema flattening) is not supported by glue maps",
                    hint="flatten in an ETL script, or let the target flatten",
                )
        raw = config.get("stream_maps") or {}
        if not isinstance(raw, Mapping):
            raise ConfigError("maps: stream_maps must be a mapping of stream name -> map")
        self.map_config = config.get("stream_map_config") or {}
        self.drop_unmapped = False
        self.defs: list[_MapDef] = []
        for key, value in raw.items():
            if key == ELSE:
                if value not in (None, NULL):
                    raise ConfigError("stream_maps.__else__: the only value allowed is null")
                self.drop_unmapped = True
                continue
            if key.startswith("__"):
                raise ConfigError(f"stream_maps: option {key!r} is not expected at this level")
            self.defs.append(_check_def(key, value))
        self.evaluator = _Eval(functions=functions())
        self._globals = fast_globals(self.evaluator.functions)
        self._compiled: dict[int, Any] = {}
        self._keep: list[ast.Expr] = []
        self.fake = _faker(config.get("faker_config") or {})

    # -- per stream ---------------------------------------------------------------------

    def resolve(self, stream: str, schema: dict[str, Any], keys: list[str]) -> list[_Mapper]:
        """The mappers for an input stream, primary first (singer-sdk's registration order)."""
        same = _Mapper(stream, schema, keys, True, None, [], same=True)
        if self.drop_unmapped:
            same = _Mapper(stream, schema, keys, True, None, [], remove=True)
        mappers: list[_Mapper] = [same]
        for d in self.defs:
            alias = d.key
            if d.primary and d.alias is not None:
                alias = _eval_alias(d.alias, stream)
            if stream != d.source:
                if not fnmatch.fnmatch(stream, d.source):
                    continue
                if alias == d.source:
                    alias = stream
            if d.remove:
                m = _Mapper(alias, schema, [], True, None, [], remove=True)
            else:
                m = self._custom(d, alias, stream, schema, keys)
            if d.primary:
                mappers[0] = m
            else:
                mappers.append(m)
        return mappers

    def _custom(
        self, d: _MapDef, alias: str, stream: str, schema: dict[str, Any], keys: list[str]
    ) -> _Mapper:
        where = f"stream_maps.{d.key} (stream {stream!r})"
        raw = copy.deepcopy(schema)
        raw.setdefault("properties", {})
        out_keys = list(d.keys or []) if d.keys_set else list(keys)
        # singer-sdk starts from a shallow copy: adding/dropping properties is seen by
        # later `new: old` lookups of the raw schema too. Kept for identical schemas.
        out = copy.copy(raw) if d.include else copy.deepcopy(SDK_EMPTY_SCHEMA)
        props: dict[str, Any] = out["properties"]
        raw_props: dict[str, Any] = raw["properties"]
        ops: list[tuple[str, int, Any, str]] = []
        for prop, spec in d.props:
            if spec is None:
                if prop in out_keys:
                    raise ConfigError(
                        f"{where}: removing the key property {prop!r} is not allowed",
                        hint="set __key_properties__ to the new key (or null for none)",
                    )
                props.pop(prop, None)
                if "required" in out:
                    out["required"] = [r for r in out["required"] if r != prop]
                ops.append((prop, _DROP, None, ""))
            elif isinstance(spec, tuple):  # singer-sdk plain string: guessed type
                text, parsed = spec
                existing = props.get(prop) or raw_props.get(text)
                props[prop] = _nullable(sdk_type(text, existing, raw))
                ops.append((prop, _EXPR, parsed, text))
            elif "from" in spec:
                src = spec["from"]
                if src not in raw_props:
                    raise ConfigError(
                        f"{where}: {prop}: {{from: {src}}} names a field the stream does not have",
                        hint=f"fields: {', '.join(raw_props) or '(none)'}",
                    )
                moved = props.pop(src, None) or raw_props[src]
                props[prop] = moved
                if "required" in out:
                    out["required"] = [prop if r == src else r for r in out["required"]]
                if not d.keys_set:
                    out_keys = [prop if k == src else k for k in out_keys]
                ops.append((prop, _RENAME, src, src))
            else:
                text, parsed = spec["expr"]
                props[prop] = copy.deepcopy(spec["schema"])
                ops.append((prop, _EXPR, parsed, text))
        for k in out_keys:
            if k not in props:
                raise ConfigError(
                    f"{where}: key property {k!r} is not in the mapped schema",
                    hint="keep it in the map (e.g. `id: id` with __else__: null) or set "
                    "__key_properties__",
                )
        return _Mapper(alias, out, out_keys, d.include, d.filter, ops)

    # -- per record -----------------------------------------------------------------------

    def names(self, record: dict[str, Any], original: str) -> dict[str, Any]:
        names = record.copy()
        names["_"] = record
        names["record"] = record
        names["config"] = self.map_config
        names["__original_stream_name__"] = original
        if self.fake is not None:
            names["fake"] = self.fake
        return names

    def apply(
        self, m: _Mapper, record: dict[str, Any], names: dict[str, Any], ctx: Context
    ) -> dict[str, Any] | None:
        """One mapper over one record: None when filtered out (or empty, as singer-sdk)."""
        names["__stream_name__"] = m.alias
        if m.filter is not None:
            _set_self(names, record, None)
            text, parsed = m.filter
            if not self._eval(text, parsed, names, ctx, m, FILTER):
                return None
        result = record.copy() if m.include else {k: record[k] for k in m.keys if k in record}
        for prop, kind, arg, text in m.ops:
            if kind == _EXPR:
                _set_self(names, record, prop)
                result[prop] = self._eval(text, arg, names, ctx, m, prop)
            elif kind == _DROP:
                result.pop(prop, None)
            else:  # rename
                if arg in record:
                    value = record[arg]
                    result.pop(arg, None)
                    result[prop] = value
        return result or None

    def _eval(
        self, text: str, parsed: ast.Expr, names: dict, ctx: Context, m: _Mapper, prop: str
    ) -> Any:
        code = self._compiled.get(id(parsed), _SLOW)
        if code is _SLOW:
            code = self._compiled[id(parsed)] = compile_fast(parsed, self.evaluator.functions)
            self._keep.append(parsed)  # ids stay unique while the parsed tree lives
        try:
            if code is not None:
                return eval(code, self._globals, names)  # compiled once, no builtins: see above
            ev = self.evaluator
            ev.names = names
            return ev.eval(text, previously_parsed=parsed)
        except Exception as exc:
            raise TransformError(
                f"map for stream {ctx.stream!r} (output {m.alias!r}), record {ctx.position}: "
                f"{prop} = {text!r} failed: {type(exc).__name__}: {exc}",
                hint="fix the expression; null values need a guard, e.g. "
                '"sha256(email) if email else None"',
            ) from None

    # -- the Script hooks -----------------------------------------------------------------

    def schema_hook(self, stream: str, schema: dict[str, Any], ctx: Context) -> dict | None:
        mappers = self.resolve(stream, schema, list(ctx.key_properties))
        primary, extras = mappers[0], mappers[1:]
        ctx.state["extras"] = extras  # declared in start_stream: after the primary's SCHEMA
        ctx.state["apply"] = self._record_fn(stream, primary, extras)
        if not extras:
            # The map copies every other field as is: validation checks only what it computes.
            ctx.state[CHANGED_FIELDS] = frozenset(
                p for p, kind, _, _ in primary.ops if kind != _DROP
            )
            steps = self.steps(primary)
            if steps is not None:
                ctx.state[FAST_RECORD] = steps  # read by the stage through record_steps
        if primary.remove:
            ctx.output_stream = None
            return None
        if primary.same:
            return None
        ctx.output_stream = primary.alias
        ctx.key_properties = primary.keys
        return primary.schema

    def steps(self, m: _Mapper) -> MapSteps | None:
        """The mapper as declarative steps the stage compiles, when nothing in it needs the
        per-record ``names``: no filter, and every expression compiled (no simpleeval) and
        naming only record fields and functions. Anything unusual in a record (an error, a
        failed check) goes to :meth:`apply` through the stage, which reports it."""
        if m.filter is not None or m.remove:
            return None
        steps: list[Step] = []
        for prop, kind, arg, text in m.ops:
            if kind == _EXPR:
                tree = guarded_tree(arg, self.evaluator.functions)
                names = _names_in(arg)
                if tree is None or names & _CONTEXT_NAMES:
                    return None
                steps.append(Step("compute", prop, text, tuple(sorted(names)), ast.unparse(tree)))
            elif kind == _DROP:
                steps.append(Step("drop", prop))
            else:
                steps.append(Step("rename", prop, arg))
        functions = {k: v for k, v in self._globals.items() if k.startswith(_FN_PREFIX)}
        return MapSteps(m.alias, m.include, tuple(m.keys), tuple(steps), functions, _FN_PREFIX)

    def _record_fn(
        self, stream: str, primary: _Mapper, extras: list[_Mapper]
    ) -> Callable[[dict[str, Any], Context], Any]:
        apply = self.apply
        names = self.names
        if not extras:
            if primary.same:
                return lambda record, ctx: record
            if primary.remove:
                return lambda record, ctx: None

            def one(record: dict[str, Any], ctx: Context) -> Any:
                return apply(primary, record, names(record, stream), ctx)

            return one

        def several(record: dict[str, Any], ctx: Context) -> Any:
            n = names(record, stream)
            out: list[Any] = []
            if primary.same:
                out.append(record)
            elif not primary.remove:
                r = apply(primary, record, n, ctx)
                if r is not None:
                    out.append(r)
            for m in extras:
                r = apply(m, record, n, ctx)
                if r is not None:
                    out.append(Out(m.alias, r))
            return out

        return several

    def script(self, name: str = "stream maps", path: Path | None = None) -> Script:
        def transform(record: dict[str, Any], ctx: Context) -> Any:
            return ctx.state["apply"](record, ctx)

        def start_stream(ctx: Context) -> None:
            for m in ctx.state["extras"]:
                ctx.declare_stream(m.alias, m.schema, m.keys)

        def record_steps(ctx: Context) -> MapSteps | None:
            steps = ctx.state.get(FAST_RECORD)
            return steps if isinstance(steps, MapSteps) else None

        return Script(
            name=name,
            transform=transform,
            schema=self.schema_hook,
            start_stream=start_stream,
            path=path,
            trusted=True,
            hold_state=False,
            record_steps=record_steps,
        )


# Names an expression can use that are not record fields or functions (see Maps.names).
_CONTEXT_NAMES = frozenset(
    {"_", "record", "self", "config", "fake", "__stream_name__", "__original_stream_name__"}
)


def _names_in(parsed: ast.Expr) -> set[str]:
    return {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)}


def _set_self(names: dict[str, Any], record: dict[str, Any], prop: str | None) -> None:
    """``self`` is the mapped property's input value (singer-sdk builds the names per property;
    here one names dict per record is reused, so ``self`` is set per property)."""
    if prop is not None and prop in record:
        names["self"] = record[prop]
    elif "self" in record:
        names["self"] = record["self"]
    else:
        names.pop("self", None)


def _faker(faker_config: Mapping[str, Any]) -> Any:
    """A Faker instance as singer-sdk makes one (``fake`` in expressions), if faker is there."""
    try:
        from faker import Faker
    except ImportError:
        return None
    if faker_config.get("seed") is not None:
        Faker.seed(faker_config["seed"])
    return Faker(faker_config["locale"]) if faker_config.get("locale") else Faker()


def compile_maps(config: Mapping[str, Any], *, name: str = "stream maps") -> Script:
    """A Script (for :func:`~glue_runtime.stages.transform.make_transform`) from a maps config:
    ``{"stream_maps": {...}, "stream_map_config": {...}, "faker_config": {...}}``."""
    return Maps(config).script(name)


def load_maps(path: str | Path) -> Script:
    """Read maps from a JSON or YAML file holding ``stream_maps`` (and ``stream_map_config``);
    a Meltano mapper's ``config:`` block works as is."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"maps file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ConfigError(f"maps file {path} cannot be parsed: {exc}") from None
    if isinstance(data, Mapping) and "config" in data and "stream_maps" not in data:
        data = data["config"]
    if not isinstance(data, Mapping) or "stream_maps" not in data:
        raise ConfigError(
            f"maps file {path} has no stream_maps key",
            hint="write  stream_maps: {stream: {property: expression | null}}",
        )
    try:
        return Maps(data).script(path.name, path)
    except ConfigError as exc:
        raise ConfigError(f"maps file {path}: {exc.message}", hint=exc.hint) from None


__all__ = ["Maps", "compile_maps", "load_maps", "mask", "md5", "sha256"]
