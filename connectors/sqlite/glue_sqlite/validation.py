"""Record validation built once per schema: exact-type checks for plain properties, compiled
fastjsonschema for the rest.

Most Singer properties are `{"type": [...], "format": ...}`; checking those is a type() lookup
per value. A record that fails the quick check, or a schema the quick check does not cover, goes
to the full fastjsonschema validator, so what passes and the error messages are the full
validator's. Formats are not checked, as singer-sdk's default validator does not check them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator

# Python types that certainly satisfy each JSON type (a subset: anything else is decided by
# the full validator).
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_ANNOTATIONS = {"type", "format", "description", "title", "default", "examples"}
_TOP_LEVEL = {"type", "properties", "required", "description", "title", "$schema"}


def _quick_types(prop: Any, *, allow_items: bool = False) -> frozenset[type] | None:
    """The accepted Python types if the property only constrains its JSON type (and, with
    allow_items, the JSON type of its array items)."""
    allowed = _ANNOTATIONS | {"items"} if allow_items else _ANNOTATIONS
    if not isinstance(prop, dict) or not set(prop) <= allowed:
        return None
    declared = prop.get("type")
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not all(n in _PY_TYPES for n in names):
        return None
    return frozenset(t for n in names for t in _PY_TYPES[n])


def _compile(schema: dict[str, Any]) -> Callable[[Any], Any]:
    try:
        return fastjsonschema.compile(schema, use_formats=False)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise InvalidJSONSchema(f"Schema Validation Error: {exc}") from exc


class FastValidator(BaseJSONSchemaValidator):
    """singer-sdk validator interface; raises InvalidRecord naming the stream and field."""

    def __init__(self, schema: dict[str, Any], stream_name: str = "") -> None:
        super().__init__(schema)
        self.stream_name = stream_name
        self._full = _compile(schema)
        self._quick: list[tuple[str, frozenset[type]]] = []
        self._arrays: list[tuple[str, frozenset[type], frozenset[type]]] = []
        self._nested: list[tuple[str, Callable[[Any], Any]]] = []
        self._required: list[str] = list(schema.get("required") or [])
        self._covered = set(schema) <= _TOP_LEVEL and schema.get("type") in ("object", None)
        if self._covered:
            for name, prop in (schema.get("properties") or {}).items():
                if isinstance(prop, dict) and set(prop) <= _ANNOTATIONS - {"type"}:
                    continue  # {} or annotations only: any value is valid
                types = _quick_types(prop)
                if types is not None:
                    self._quick.append((name, types))
                    continue
                types = _quick_types(prop, allow_items=True)
                items = _quick_types(prop.get("items")) if types is not None else None
                if types is not None and items is not None:
                    self._arrays.append((name, types, items))
                elif isinstance(prop, dict) and not _has_refs(prop):
                    self._nested.append((name, _compile(prop)))
                else:
                    self._covered = False
                    break

    def _passes_quickly(self, record: dict[str, Any]) -> bool:
        for name, types in self._quick:
            if name in record and type(record[name]) not in types:
                return False
        for name, types, items in self._arrays:
            if name in record:
                value = record[name]
                if type(value) not in types:
                    return False
                if type(value) is list and not items.issuperset(map(type, value)):
                    return False
        if not all(map(record.__contains__, self._required)):
            return False
        try:
            for name, check in self._nested:
                if name in record:
                    check(record[name])
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def validate(self, record: dict[str, Any]) -> None:
        if self._covered and type(record) is dict and self._passes_quickly(record):
            return
        try:
            self._full(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            where = exc.message.replace("data", "record", 1)
            raise InvalidRecord(f"stream '{self.stream_name}': {where}", record) from exc


def _has_refs(schema: Any) -> bool:
    """A $ref can point outside the property, so such properties use the full validator."""
    if isinstance(schema, dict):
        return "$ref" in schema or any(_has_refs(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_refs(v) for v in schema)
    return False
