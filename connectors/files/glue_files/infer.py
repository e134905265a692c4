"""Schema inference from sample rows, and the per-column converters CSV text goes through.

CSV cells are text: each sampled cell is classified (integer, number, boolean, ISO date-time,
ISO date, JSON object or array, else string) and a column takes the narrowest kind all its
non-empty cells share. JSON-lines values already carry JSON types; objects and arrays keep
their shape. Every inferred property is nullable: a sample never proves a value is always set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import orjson

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_NUM = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?\Z"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_BOOL = {"true": True, "false": False}
# A schema that says boolean also accepts these spellings (inference only proposes true/false).
_BOOL_LOOSE = {**_BOOL, "t": True, "f": False, "yes": True, "no": False, "1": True, "0": False}

# Kinds a CSV column can be inferred as, and the JSON Schema each becomes.
KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date-time": {"type": ["string", "null"], "format": "date-time"},
    "date": {"type": ["string", "null"], "format": "date"},
    "object": {"type": ["object", "null"]},
    "array": {"type": ["array", "null"]},
    "string": {"type": ["string", "null"]},
}


def is_datetime_text(text: str) -> bool:
    """True for an ISO 8601 date-time such as 2024-05-01T10:00:00Z or 2024-05-01 10:00."""
    if not _DATETIME.match(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_date_text(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def classify_text(text: str) -> tuple[str, Any]:
    """The kind of one non-empty CSV cell, and its parsed value for object/array kinds."""
    if _INT.match(text):
        # Leading zeros (zip codes, ids like 007) never match _INT, so they stay strings.
        return "integer", None
    if _NUM.match(text):
        return "number", None
    if text.lower() in _BOOL:
        return "boolean", None
    first = text[0]
    if first.isdigit():
        if is_datetime_text(text):
            return "date-time", None
        if is_date_text(text):
            return "date", None
    elif first in "{[":
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return "string", None
        if isinstance(value, dict):
            return "object", value
        if isinstance(value, list):
            return "array", value
    return "string", None


def merge_kinds(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    if {a, b} == {"integer", "number"}:
        return "number"
    return "string"


def infer_csv_schema(header: list[str], rows: Iterable[list[str]]) -> dict[str, Any]:
    """A JSON Schema for CSV rows (lists of cells in header order); empty cells are nulls."""
    kinds: list[str | None] = [None] * len(header)
    nested: list[Any] = [None] * len(header)  # merged JSON schema of object/array cells
    for row in rows:
        for i, text in enumerate(row):
            if not text or kinds[i] == "string":
                continue
            kind, value = classify_text(text)
            kinds[i] = merge_kinds(kinds[i], kind)
            if kind in ("object", "array"):
                shape = json_value_schema(value)
                nested[i] = shape if nested[i] is None else merge_schemas(nested[i], shape)
    props: dict[str, Any] = {}
    for i, name in enumerate(header):
        kind = kinds[i] or "string"
        if kind in ("object", "array") and nested[i] is not None:
            props[name] = nullable(nested[i])
        else:
            props[name] = dict(KIND_SCHEMAS[kind])
    return {"type": "object", "properties": props}


# -- JSON values ------------------------------------------------------------------------------


def json_value_schema(value: Any) -> dict[str, Any]:
    """The schema of one JSON value (types as sets until finalised by nullable())."""
    if value is None:
        return {"type": {"null"}}
    if isinstance(value, bool):
        return {"type": {"boolean"}}
    if isinstance(value, int):
        return {"type": {"integer"}}
    if isinstance(value, float):
        return {"type": {"number"}}
    if isinstance(value, str):
        return _text_schema(value)
    if isinstance(value, dict):
        return {
            "type": {"object"},
            "properties": {k: json_value_schema(v) for k, v in value.items()},
        }
    if isinstance(value, list):
        return _array_schema(value)
    return {"type": {"string"}}


def _text_schema(value: str) -> dict[str, Any]:
    """A string, with the date-time or date format when it reads as one."""
    if value[:1].isdigit():
        if is_datetime_text(value):
            return {"type": {"string"}, "format": "date-time"}
        if is_date_text(value):
            return {"type": {"string"}, "format": "date"}
    return {"type": {"string"}}


def _array_schema(value: list[Any]) -> dict[str, Any]:
    """An array whose items schema accepts every item (no items schema when empty)."""
    items: dict[str, Any] | None = None
    for item in value:
        shape = json_value_schema(item)
        items = shape if items is None else merge_schemas(items, shape)
    schema: dict[str, Any] = {"type": {"array"}}
    if items is not None:
        schema["items"] = items
    return schema


def merge_schemas(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The smallest schema (of the shapes json_value_schema makes) accepting both."""
    types = set(a["type"]) | set(b["type"])
    if "number" in types:
        types.discard("integer")
    out: dict[str, Any] = {"type": types}
    fa, fb = a.get("format"), b.get("format")
    a_str, b_str = "string" in a["type"], "string" in b["type"]
    if fa and (fa == fb or not b_str):
        out["format"] = fa
    elif fb and not a_str:
        out["format"] = fb
    if "properties" in a or "properties" in b:
        pa, pb = a.get("properties", {}), b.get("properties", {})
        props = {}
        for key in [*pa, *(k for k in pb if k not in pa)]:
            if key in pa and key in pb:
                props[key] = merge_schemas(pa[key], pb[key])
            else:
                props[key] = pa.get(key) or pb[key]
        out["properties"] = props
    if "items" in a or "items" in b:
        ia, ib = a.get("items"), b.get("items")
        out["items"] = merge_schemas(ia, ib) if ia and ib else (ia or ib)
    return out


_TYPE_ORDER = ["object", "array", "string", "number", "integer", "boolean"]


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Finalise a merged schema: type lists in a stable order, every level nullable; a value
    only ever seen as null becomes a nullable string."""
    types = [t for t in _TYPE_ORDER if t in schema["type"]] or ["string"]
    out: dict[str, Any] = {"type": [*types, "null"]}
    if "format" in schema and types == ["string"]:
        out["format"] = schema["format"]
    if "properties" in schema:
        out["properties"] = {k: nullable(v) for k, v in schema["properties"].items()}
    if "items" in schema:
        out["items"] = nullable(schema["items"])
    return out


def infer_json_schema(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A JSON Schema for JSON objects, properties in first-seen order."""
    merged: dict[str, Any] | None = None
    for record in records:
        shape = json_value_schema(record)
        merged = shape if merged is None else merge_schemas(merged, shape)
    props = (merged or {}).get("properties", {})
    return {"type": "object", "properties": {k: nullable(v) for k, v in props.items()}}


# -- CSV converters ---------------------------------------------------------------------------


def _types(prop: dict[str, Any]) -> set[str]:
    t = prop.get("type")
    if t is None:
        for key in ("anyOf", "oneOf"):
            if key in prop:
                return set().union(*(_types(p) for p in prop[key]))
        return {"string"}
    return {t} if isinstance(t, str) else set(t)


def _to_int(text: str) -> int:
    return int(text)


def _to_number(text: str) -> int | float:
    """Integral text stays an int (exact); anything else a float."""
    if _INT.match(text):
        return int(text)
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinity are not JSON numbers")
    return value


def _to_bool(text: str) -> bool:
    try:
        return _BOOL_LOOSE[text.lower()]
    except KeyError:
        raise ValueError("not a boolean (true/false)") from None


def _to_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def _to_int_or_number(text: str) -> int | float:
    return int(text) if _INT.match(text) else _to_number(text)


def converter_for(prop: dict[str, Any]) -> Callable[[str], Any] | None:
    """How a CSV cell becomes the property's JSON value; None means keep the text.
    Converters raise ValueError on text they cannot read (empty cells never reach them)."""
    types = _types(prop) - {"null"}
    if "string" in types or not types:
        return None
    if types <= {"object", "array"}:
        return _to_json
    if types == {"integer"}:
        return _to_int
    if types <= {"integer", "number"}:
        return _to_int_or_number if "integer" in types else _to_number
    if types == {"boolean"}:
        return _to_bool
    return None
