"""A per-schema record check compiled once, cheap for the common case.

The idea comes from connectors/sqlite/glue_sqlite/validation.py (``FastValidator``): most Singer
properties only constrain their JSON type, so checking them is a ``type()`` lookup per value.
Here the check is generated as Python source per SCHEMA (one straight-line function, nested
objects and arrays included), so a record costs a dict lookup and a set membership per field.

The check only answers "certainly valid": ``True`` means the full validator (fastjsonschema,
formats not checked, defaults not applied) would accept the record; ``False`` means "ask it".
So verdicts and error messages stay the full validator's. Keywords the generator does not model
(``minimum``, ``pattern``, ``oneOf``, ...) are delegated, for that property only, to a
fastjsonschema validator of the property; a schema using ``$ref`` gets no quick check at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema


class _Absent:
    """Type of the marker ``dict.get`` returns for a property that is not in the record."""


_ABSENT = _Absent()
_NONE = type(None)
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),  # type() is exact: bool (a subclass of int) is not an integer
    "number": (int, float),
    "boolean": (bool,),
    "null": (_NONE,),
    "object": (dict,),
    "array": (list,),
}
# Keywords that do not constrain a value here: formats are not checked and defaults are not
# applied, as in the target's full validator.
_ANNOTATIONS = frozenset(
    (
        "format",
        "description",
        "title",
        "default",
        "examples",
        "$comment",
        "readOnly",
        "writeOnly",
        "deprecated",
    )
)
_MODELLED = frozenset(
    ("type", "enum", "properties", "required", "additionalProperties", "items", "anyOf")
)
_TOP_LEVEL = frozenset(("$schema", "$id")) | _MODELLED | _ANNOTATIONS


class _Unmodelled(Exception):
    """This node needs the full validator."""


class _Gen:
    """Source generator: each ``node`` call appends lines that ``return False`` when the value
    in ``var`` is not certainly valid."""

    def __init__(self, draft: str | None) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {"A": _ABSENT, "_sub": _sub}
        self.draft = draft
        self._n = 0

    def name(self, prefix: str, value: Any = None) -> str:
        self._n += 1
        name = f"{prefix}{self._n}"
        if value is not None:
            self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    # -- one schema node --------------------------------------------------------------------

    def node(self, schema: Any, var: str, indent: int) -> None:
        mark = len(self.lines)
        try:
            self._modelled(schema, var, indent)
        except _Unmodelled:
            del self.lines[mark:]
            self._delegate(schema, var, indent)

    def _delegate(self, schema: Any, var: str, indent: int) -> None:
        if _has_refs(schema):
            raise _Unmodelled  # a $ref can point outside the node: no quick check at all
        sub = dict(schema) if isinstance(schema, dict) else schema
        if self.draft and isinstance(sub, dict):
            sub["$schema"] = self.draft
        check = fastjsonschema.compile(
            sub, use_formats=False, use_default=False, detailed_exceptions=False
        )
        self.emit(indent, f"if not _sub({self.name('F', check)}, {var}): return False")

    def _modelled(self, schema: Any, var: str, indent: int) -> None:
        if not isinstance(schema, dict):
            raise _Unmodelled
        keys = set(schema) - _ANNOTATIONS
        if not keys:
            return  # {}: any value
        if keys - _MODELLED:
            raise _Unmodelled
        types = _types(schema)
        if "enum" in schema:
            enum = schema["enum"]
            if not isinstance(enum, list) or not all(e is None or type(e) is str for e in enum):
                raise _Unmodelled  # 1 == True == 1.0 in Python, not in JSON Schema
            # Only str and None are hashable enum members here, so a list never reaches `in`.
            types = (types or frozenset((str, _NONE))) & frozenset((str, _NONE))
            t_name, e_name = self.name("T", types), self.name("E", frozenset(enum))
            self.emit(indent, f"if type({var}) not in {t_name} or {var} not in {e_name}:")
            self.emit(indent + 1, "return False")
        elif types is not None and len(types) == 1:
            (only,) = types
            self.emit(indent, f"if type({var}) is not {self.name('T', only)}: return False")
        elif types is not None:
            self.emit(indent, f"if type({var}) not in {self.name('T', types)}: return False")
        if types is None or dict in types:
            self._object(schema, var, indent, check_type=types != frozenset((dict,)))
        if types is None or list in types:
            self._array(schema, var, indent, check_type=types != frozenset((list,)))

    def _object(self, schema: dict, var: str, indent: int, *, check_type: bool) -> None:
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        extra = schema.get("additionalProperties", True)
        if (
            not isinstance(props, dict)
            or not isinstance(required, list)
            or extra
            not in (
                True,
                False,
            )
        ):
            raise _Unmodelled
        if not all(isinstance(r, str) for r in required):
            raise _Unmodelled
        if not props and not required and extra is True:
            return
        if check_type:
            self.emit(indent, f"if type({var}) is dict:")
            indent += 1
        get = self.name("g")
        self.emit(indent, f"{get} = {var}.get")
        if extra is False:
            self.emit(indent, f"if not {var}.keys() <= {self.name('P', frozenset(props))}:")
            self.emit(indent + 1, "return False")
        for name in required:
            if name not in props:
                self.emit(indent, f"if {name!r} not in {var}: return False")
        for name, prop in props.items():
            self.property(name, prop, get, indent, required=name in required)

    def property(self, name: str, prop: Any, get: str, indent: int, *, required: bool) -> None:
        """One property of an object (``get`` is its ``dict.get``)."""
        types = None
        if isinstance(prop, dict) and set(prop) - _ANNOTATIONS <= {"type", "anyOf"}:
            try:
                types = _types(prop)
            except _Unmodelled:
                types = None
        if types is not None:
            if required and len(types) == 1:  # an identity test is cheaper than a set lookup
                (only,) = types
                t_name = self.name("T", only)
                self.emit(indent, f"if type({get}({name!r}, A)) is not {t_name}: return False")
                return
            allowed = types if required else types | {_Absent}
            t_name = self.name("T", frozenset(allowed))
            self.emit(indent, f"if type({get}({name!r}, A)) not in {t_name}: return False")
            return
        if isinstance(prop, dict) and not set(prop) - _ANNOTATIONS:
            if required:
                self.emit(indent, f"if {get}({name!r}, A) is A: return False")
            return
        var = self.name("v")
        self.emit(indent, f"{var} = {get}({name!r}, A)")
        if required:
            self.emit(indent, f"if {var} is A: return False")
            self.node(prop, var, indent)
        else:
            self.emit(indent, f"if {var} is not A:")
            self.node(prop, var, indent + 1)
            self.emit(indent + 1, "pass")

    def _array(self, schema: dict, var: str, indent: int, *, check_type: bool) -> None:
        if "items" not in schema:
            return
        items = schema["items"]
        if not isinstance(items, dict):
            raise _Unmodelled  # tuple form
        if not set(items) - _ANNOTATIONS:
            return
        if check_type:
            self.emit(indent, f"if type({var}) is list:")
            indent += 1
        item = self.name("x")
        self.emit(indent, f"for {item} in {var}:")
        self.node(items, item, indent + 1)
        self.emit(indent + 1, "pass")


def _types(schema: Any) -> frozenset[type] | None:
    """The Python types a node's ``type`` (or an ``anyOf`` of bare types) allows; None when
    the node does not constrain the type. Raises _Unmodelled for what it cannot express."""
    if not isinstance(schema, dict):
        raise _Unmodelled
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if "type" in schema or not isinstance(branches, list) or not branches:
            raise _Unmodelled
        out: set[type] = set()
        for branch in branches:
            if not isinstance(branch, dict) or set(branch) - _ANNOTATIONS != {"type"}:
                raise _Unmodelled
            out |= _types(branch) or set()
        return frozenset(out)
    if "type" not in schema:
        return None
    declared = schema["type"]
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names or not all(n in _PY_TYPES for n in names):
        raise _Unmodelled
    return frozenset(t for n in names for t in _PY_TYPES[n])


def _has_refs(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "$ref" in schema or any(_has_refs(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_refs(v) for v in schema)
    return False


def _sub(check: Callable[[Any], Any], value: Any) -> bool:
    try:
        check(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def compile_check(
    schema: dict[str, Any] | None, key_properties: list[str] | tuple[str, ...] = ()
) -> Callable[[dict], bool] | None:
    """A function telling whether a record (a dict) certainly passes ``schema`` and has every
    key property; None when the schema is not modelled (validate every record in full).

    With ``schema=None`` (validation off) the function checks only the key properties, and is
    None when there are none."""
    gen = _Gen(None)
    if schema is not None:
        if not isinstance(schema, dict) or set(schema) - _TOP_LEVEL or _has_refs(schema):
            return None
        top = schema.get("type", "object")
        if "object" not in ([top] if isinstance(top, str) else top) or set(schema) & {
            "enum",
            "anyOf",
        }:
            return None
        draft = schema.get("$schema")
        gen.draft = draft if isinstance(draft, str) else None
        try:
            gen._object(schema, "r", 1, check_type=False)
        except (_Unmodelled, fastjsonschema.JsonSchemaDefinitionException):
            return None
    required = set(schema.get("required") or ()) if isinstance(schema, dict) else set()
    for key in key_properties:
        if key not in required:
            gen.emit(1, f"if {key!r} not in r: return False")
    if schema is None and not key_properties:
        return None
    source = "def check(r):\n" + "\n".join([*gen.lines, "    return True"]) + "\n"
    namespace = dict(gen.consts)
    exec(compile(source, "<glue_files.quickcheck>", "exec"), namespace)
    check = namespace["check"]
    check.source = source  # for debugging and tests
    return check
