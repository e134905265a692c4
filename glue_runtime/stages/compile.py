"""A stream's plan compiled into its one record function: ``fn(message, position)``.

The function returns the message to send on (the input message itself when nothing changed),
None (the record goes nowhere), or a list of messages (a script's several records, or output
SCHEMAs that must go first). It is Python source built once per SCHEMA from the plan (field
names and constants enter through ``repr``; map expressions are the maps' own whitelisted,
guarded expressions, their field names turned into lookups in the record), so it prints as
what it does (``Compiled.source``). For the usual record it is straight-line code: one copy,
the field map's deletes, the map's reads, the checks of what changed, the writes, a new
message. Anything unusual falls back, without having changed or counted anything:

- the field map's part to ``select.project``, the complete projection (unknown fields
  counted, their policy applied);
- the map's and the checks' part to ``general``, the transform's general path (the
  reference: its errors, messages and validation verdicts are the ones users see).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from glue_runtime.protocol import Message
from glue_runtime.stages.plan import MapSteps, SelectSteps, Step, StreamPlan

RecordResult = Message | list[Message] | None
RecordFn = Callable[[Message, int], RecordResult]
General = Callable[[Message, int], RecordResult]

_MISSING: Any = object()


class _Unusual(Exception):
    """A record the straight-line selection does not cover (raised and caught inside)."""


def _list_ok(check: Callable[[Any], bool], items: list[Any]) -> bool:
    try:
        return all(map(check, items))
    except TypeError:  # an item a C-level check cannot iterate (null, a number)
        return False


def _project_list(fn: Callable[[dict[str, Any]], dict[str, Any]], items: list[Any]) -> list[Any]:
    new = [fn(x) if type(x) is dict else x for x in items]
    return items if all(a is b for a, b in zip(new, items, strict=True)) else new


def _with_record(msg: Message, rec: Any, sel: Any) -> Message:
    """The message as the field map left it (the same object when it did nothing)."""
    if sel is rec:
        return msg
    new = msg.copy()
    new["record"] = sel
    return new


@dataclass(frozen=True)
class Compiled:
    """A stream's record function and the source it was built from."""

    fn: RecordFn
    source: str


class _Writer:
    """Lines of Python with names for the values they use (``ns``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.counts: dict[str, int] = {}
        self.ns: dict[str, Any] = {
            # No builtins. Not an empty dict: CPython 3.11 cannot specialise global lookups
            # with one (its keys have no version), which makes every name lookup slow.
            "__builtins__": {"__glue_no_builtins__": None},
            "type": type,
            "len": len,
            "dict": dict,
            "list": list,
            "Exception": Exception,
            "KeyError": KeyError,
            "_Unusual": _Unusual,
            "_MISSING": _MISSING,
            "_list_ok": _list_ok,
            "_project_list": _project_list,
            "_with_record": _with_record,
            "_NUMBERS": _NUMBERS,
        }

    def add(self, indent: int, *lines: str) -> None:
        self.lines += ["    " * indent + line for line in lines]

    def name(self, prefix: str, value: Any) -> str:
        """A fresh name (``prefix`` and a number) for ``value``."""
        n = self.counts[prefix] = self.counts.get(prefix, -1) + 1
        key = f"{prefix}{n}"
        self.ns[key] = value
        return key


# -- the field map ------------------------------------------------------------------------


def _select(w: _Writer, sel: SelectSteps | None) -> None:
    """Code leaving the field map's result in ``sel`` (``rec`` itself when unchanged)."""
    if sel is None:
        w.add(1, "sel = rec")
        return
    w.ns["project"] = sel.project
    if not sel.fast:
        w.add(1, f"sel = project(rec)  # the complete projection ({sel.unknown_fields} unknown)")
        return
    w.add(1, "sel = rec.copy()" if sel.drop else "sel = rec", "try:")
    w.add(2, *(f"del sel[{k!r}]" for k in sel.drop))
    if sel.closed:
        w.ns["known"] = sel.known
        w.add(2, "if not known(sel):  # a field the schema does not list", "    raise _Unusual")
    for key, check in zip(sel.checked, sel.checks, strict=True):
        c = w.name("c", check)
        w.add(2, f"v = sel.get({key!r})", "if v is not None:", "    tv = type(v)")
        w.add(3, f"if (tv is dict and not {c}(v)) or (tv is list and not _list_ok({c}, v)):")
        w.add(4, "raise _Unusual")
    if w.lines[-1].endswith("try:"):  # nothing to test (not a plan select_steps makes)
        w.add(2, "pass")
    w.add(1, "except (KeyError, _Unusual):", "    sel = project(rec)")
    if sel.projected:
        w.add(1, "else:")
    for key, fn in zip(sel.projected, sel.projections, strict=True):
        n = w.name("n", fn)
        w.add(2, f"v = sel.get({key!r})", "tv = type(v)", "if tv is dict:")
        w.add(3, f"sel[{key!r}] = {n}(v)")
        w.add(2, "elif tv is list:", f"    sel[{key!r}] = _project_list({n}, v)")


# -- the map --------------------------------------------------------------------------------


_NUMBERS = frozenset({int, float, Decimal})  # no __len__: the size guards cannot refuse them
_INLINE = {"safe_mult": ast.Mult, "safe_add": ast.Add}


class _Fields(ast.NodeTransformer):
    """Field names in an expression -> lookups in the record (``sel['name']``): the record
    is the expression's namespace, as when the maps evaluate it with the record as locals.

    The size guards (``safe_mult(a, b)``, ``safe_add(a, b)``) get a plain-number shortcut:
    ``a * b`` when both are int, float or Decimal (which the guards pass as they are), the
    guard otherwise. Each operand is evaluated once, into a local of the record function."""

    def __init__(self, prefix: str, tag: str) -> None:
        self.prefix = prefix
        self.tag = tag
        self.temps = 0

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id.startswith(self.prefix):
            return node
        key = ast.Constant(node.id)
        return ast.copy_location(ast.Subscript(ast.Name("sel", ast.Load()), key, ast.Load()), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        assert isinstance(node.func, ast.Name)
        op = _INLINE.get(node.func.id.removeprefix(self.prefix))
        if op is None or len(node.args) != 2 or node.keywords:
            return node
        a, b = (self._temp() for _ in range(2))
        checks = [
            ast.Compare(
                ast.Call(ast.Name("type", ast.Load()), [ast.NamedExpr(t, arg)], []),
                [ast.In()],
                [ast.Name("_NUMBERS", ast.Load())],
            )
            for t, arg in zip((a, b), node.args, strict=True)
        ]
        both = ast.BinOp(checks[0], ast.BitAnd(), checks[1])  # both sides always evaluated
        plain = ast.BinOp(self._load(a), op(), self._load(b))
        guarded = ast.Call(node.func, [self._load(a), self._load(b)], [])
        return ast.IfExp(both, plain, guarded)

    def _temp(self) -> ast.Name:
        self.temps += 1
        return ast.Name(f"_{self.tag}_{self.temps}", ast.Store())

    @staticmethod
    def _load(name: ast.Name) -> ast.Name:
        return ast.Name(name.id, ast.Load())


def _expression(step: Step, prefix: str, tag: str) -> str:
    tree = ast.parse(step.code, mode="eval")
    return ast.unparse(ast.fix_missing_locations(_Fields(prefix, tag).visit(tree)))


def _in_place(m: MapSteps, required: tuple[str, ...]) -> bool:
    """Whether the map may write into the field map's copy: each field in one step only, and
    no required field removed (then the required check can come before the writes)."""
    fields = [s.field for s in m.steps] + [s.arg for s in m.steps if s.kind == "rename"]
    removed = {s.field for s in m.steps if s.kind == "drop"} | {
        s.arg for s in m.steps if s.kind == "rename"
    }
    return m.keep_others and len(fields) == len(set(fields)) and not removed & set(required)


def _needed(m: MapSteps, required: tuple[str, ...]) -> frozenset[str]:
    """The fields the input must have for the output to have every required field."""
    computed = {s.field for s in m.steps if s.kind == "compute"}
    renamed = {s.field: s.arg for s in m.steps if s.kind == "rename"}
    return frozenset(renamed.get(r, r) for r in required if r not in computed)


def _map_reads(w: _Writer, m: MapSteps, prefix: str) -> list[tuple[Step, str]]:
    """Code reading every value the map writes (before any write), in a ``try``."""
    w.ns.update(m.functions)
    values: list[tuple[Step, str]] = []
    w.add(1, f"# map {m.name!r}", "try:")
    for i, step in enumerate(m.steps):
        if step.kind == "compute":
            w.add(2, f"v{i} = {_expression(step, prefix, f'v{i}')}")
        elif step.kind == "rename":
            w.add(2, f"v{i} = sel.get({step.arg!r}, _MISSING)")
        else:
            continue
        values.append((step, f"v{i}"))
    if not values:
        w.add(2, "pass")
    w.add(1, "except Exception:", "    return general(_with_record(msg, rec, sel), position)")
    return values


def _checks(w: _Writer, plan: StreamPlan, values: list[tuple[Step, str]]) -> None:
    """Code checking the values the map writes against their output schemas."""
    if plan.check is None or plan.check.policy == "off":
        return
    last = {step.field: (step, value) for step, value in values}
    for c in plan.check.fields:
        if c.field not in last or c.validator is None:
            continue
        step, value = last[c.field]
        plain = w.name("t", c.plain)
        check = w.name("check", c.validator)
        guard = f"{value} is not _MISSING and " if step.kind == "rename" else ""
        w.add(1, f"if {guard}type({value}) not in {plain}:  # {c.field}", "    try:")
        w.add(3, f"{check}({value})")
        w.add(2, "except Exception:", "    return general(_with_record(msg, rec, sel), position)")


def _map_writes(w: _Writer, m: MapSteps, values: list[tuple[Step, str]], in_place: bool) -> None:
    if in_place:
        w.add(1, "out = sel if sel is not rec else rec.copy()")
    elif m.keep_others:
        w.add(1, "out = sel.copy()")
    else:
        w.add(1, "out = {}")
        for k in m.keys:
            w.add(1, f"if {k!r} in sel:", f"    out[{k!r}] = sel[{k!r}]")
    names = iter(values)
    for step in m.steps:
        if step.kind == "drop":
            w.add(1, f"out.pop({step.field!r}, None)")
            continue
        _, v = next(names)
        if step.kind == "compute":
            w.add(1, f"out[{step.field!r}] = {v}")
        else:
            w.add(1, f"if {v} is not _MISSING:", f"    out.pop({step.arg!r}, None)")
            w.add(2, f"out[{step.field!r}] = {v}")
    if not any(s.kind == "compute" for s in m.steps):  # maps send no empty record
        w.add(1, "if not out:", "    return None")


def _map(w: _Writer, plan: StreamPlan, m: MapSteps) -> None:
    required = plan.check.required if plan.check is not None and plan.check.policy != "off" else ()
    values = _map_reads(w, m, m.fn_prefix)
    _checks(w, plan, values)
    in_place = _in_place(m, required)
    if required and in_place:
        _has(w, "sel", sorted(_needed(m, required)), f"required: {', '.join(required)}")
    _map_writes(w, m, values, in_place)
    if required and not in_place:
        _has(w, "out", list(required), "required")
    _message(w, plan.output)


def _has(w: _Writer, var: str, names: list[str], why: str) -> None:
    """Code sending a record without all of ``names`` to the general path."""
    if len(names) <= 4:  # a few ``in`` tests beat a set comparison
        test = " or ".join(f"{k!r} not in {var}" for k in names)
    else:
        test = f"not {var}.keys() >= {w.name('need', frozenset(names))}"
    w.add(1, f"if {test}:  # {why}")
    w.add(2, "return general(_with_record(msg, rec, sel), position)")


def _message(w: _Writer, output: str | None) -> None:
    """Code returning the new RECORD message: the output stream, the record, and the
    input's ``version`` and ``time_extracted`` (the usual shapes as one dict display)."""
    head = f"'type': 'RECORD', 'stream': {output!r}, 'record': out"
    w.add(1, "n = len(msg)", "if n == 3:", f"    return {{{head}}}")
    w.add(1, "if n == 4 and 'time_extracted' in msg:")
    w.add(2, f"return {{{head}, 'time_extracted': msg['time_extracted']}}")
    w.add(1, f"new = {{{head}}}")
    w.add(1, "if 'version' in msg:", "    new['version'] = msg['version']")
    w.add(1, "if 'time_extracted' in msg:", "    new['time_extracted'] = msg['time_extracted']")
    w.add(1, "return new")


# -- the record function -------------------------------------------------------------------


def compile_plan(plan: StreamPlan, general: General | None) -> Compiled:
    """The record function of ``plan``. ``general`` is the transform's general path for a
    message as the field map left it (None: no transform, records leave after the field map)."""
    w = _Writer()
    w.ns["general"] = general
    w.add(0, f"def record(msg, position):  # stream {plan.stream!r}", "    rec = msg['record']")
    w.add(1, "if type(rec) is not dict:")
    w.add(2, "return msg" if general is None else "return general(msg, position)")
    _select(w, plan.select)
    if plan.maps is not None:
        _map(w, plan, plan.maps)
    elif general is not None:
        w.add(1, "return general(_with_record(msg, rec, sel), position)")
    else:
        w.add(1, "return _with_record(msg, rec, sel)")
    source = "\n".join(w.lines) + "\n"
    code = compile(source, f"<glue_runtime plan: stream {plan.stream!r}>", "exec")
    exec(code, w.ns)  # the source above: repr'd names and the maps' whitelisted expressions
    fn: RecordFn = w.ns["record"]
    return Compiled(fn, source)


def passing(plan: StreamPlan) -> Compiled:
    """The record function of a stream whose records pass unchanged."""

    def record(msg: Message, position: int) -> RecordResult:
        return msg

    return Compiled(record, f"# stream {plan.stream!r}: records pass unchanged\n")


def dropping(plan: StreamPlan, count: Callable[[], None]) -> Compiled:
    """The record function of a stream the field map does not select."""

    def record(msg: Message, position: int) -> RecordResult:
        count()
        return None

    return Compiled(record, f"# stream {plan.stream!r}: not selected, records dropped\n")


__all__ = ["Compiled", "RecordFn", "compile_plan", "dropping", "passing"]
