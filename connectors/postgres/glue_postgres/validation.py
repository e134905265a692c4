"""Record validation compiled once per schema.

Most Singer properties only constrain the JSON type (`{"type": ["string", "null"], "format":
...}`); for those a record is checked with one type() lookup per value. A record that fails the
quick check, or a schema with other constraints, goes to a fastjsonschema validator compiled from
the whole schema, so what passes and the error messages are the full validator's. Like
singer-sdk's default validator, formats are not checked (PostgreSQL checks dates on load).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator

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


def _quick_types(prop: Any) -> frozenset[type] | None:
    """The Python types a property accepts if it constrains nothing but its JSON type."""
    if not isinstance(prop, dict) or not set(prop) <= _ANNOTATIONS:
        return None
    declared = prop.get("type")
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not all(n in _PY_TYPES for n in names):
        return None
    return frozenset(t for n in names for t in _PY_TYPES[n])


class FastValidator(BaseJSONSchemaValidator):
    """singer-sdk's validator interface; InvalidRecord names the stream and the field."""

    def __init__(self, schema: dict[str, Any], stream_name: str = "") -> None:
        super().__init__(schema)
        self.stream_name = stream_name
        try:
            self._full: Callable[[Any], Any] = fastjsonschema.compile(schema, use_formats=False)
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise InvalidJSONSchema(f"Schema Validation Error: {exc}") from exc
        self._quick: list[tuple[str, frozenset[type]]] = []
        self._nested: list[tuple[str, Callable[[Any], Any]]] = []
        self._required = list(schema.get("required") or [])
        self._covered = set(schema) <= _TOP_LEVEL and schema.get("type") in ("object", None)
        for name, prop in (schema.get("properties") or {}).items():
            if not self._covered:
                break
            if isinstance(prop, dict) and set(prop) <= _ANNOTATIONS - {"type"}:
                continue  # no constraint at all
            types = _quick_types(prop)
            if types is not None:
                self._quick.append((name, types))
            elif isinstance(prop, dict) and not _has_refs(prop):
                # nested objects / arrays, anyOf...: this property's own compiled validator
                try:
                    self._nested.append((name, fastjsonschema.compile(prop, use_formats=False)))
                except fastjsonschema.JsonSchemaDefinitionException:
                    self._covered = False
            else:
                self._covered = False

    def validate(self, record: dict[str, Any]) -> None:
        if self._covered and type(record) is dict:
            for name, types in self._quick:
                if name in record and type(record[name]) not in types:
                    break
            else:
                for name in self._required:
                    if name not in record:
                        break
                else:
                    try:
                        for name, check in self._nested:
                            if name in record:
                                check(record[name])
                    except fastjsonschema.JsonSchemaValueException:
                        pass  # the full validator reports it
                    else:
                        return
        try:
            self._full(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            where = exc.message.replace("data", "record", 1)
            raise InvalidRecord(f"stream '{self.stream_name}': {where}", record) from exc


def _has_refs(schema: Any) -> bool:
    """A $ref can point outside its property: such properties need the whole schema."""
    if isinstance(schema, dict):
        return "$ref" in schema or any(_has_refs(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_refs(v) for v in schema)
    return False
