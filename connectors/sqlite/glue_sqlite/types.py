"""JSON Schema <-> SQLite column types, shared by the tap and the target.

SQLite stores any value in any column; the declared type only sets an affinity. The target
declares descriptive names (TIMESTAMP, BOOLEAN, OBJECT...) so the tap can map them back to the
JSON Schema the data came with. None of these names has TEXT affinity, but their values never
look numeric (ISO dates, JSON objects/arrays), so SQLite keeps them as text.
"""

from __future__ import annotations

from typing import Any

# Declared types the target writes. JSON_TYPES hold JSON text (serialised by the target,
# parsed back by the tap).
OBJECT = "OBJECT"
ARRAY = "ARRAY"
JSON = "JSON"
JSON_TYPES = frozenset({OBJECT, ARRAY, JSON})
ANY = ""  # no declared type: BLOB affinity, values kept exactly as bound

_STRING_FORMATS = {"date-time": "TIMESTAMP", "date": "DATE", "time": "TIME"}


def quote_ident(name: str) -> str:
    """Quote an identifier for SQL so any stream or property name is usable."""
    return '"' + name.replace('"', '""') + '"'


def _collect(schema: dict[str, Any], types: set[str], formats: set[str]) -> None:
    """Gather the JSON types and string formats a (possibly anyOf) schema allows."""
    declared = schema.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(declared)
    if "format" in schema:
        formats.add(schema["format"])
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or ():
            if isinstance(sub, dict):
                _collect(sub, types, formats)


def sqlite_type(prop: dict[str, Any]) -> str:
    """The declared SQLite type for one JSON Schema property."""
    types: set[str] = set()
    formats: set[str] = set()
    _collect(prop, types, formats)
    types.discard("null")
    if not types:
        return JSON  # {} or only null: anything goes, keep it as JSON text
    if "object" in types or "array" in types:
        if types == {"object"}:
            return OBJECT
        if types == {"array"}:
            return ARRAY
        return JSON
    if types == {"boolean"}:
        return "BOOLEAN"
    if types == {"integer"}:
        return "INTEGER"
    if types <= {"integer", "number"}:
        return "REAL"
    if types == {"string"}:
        for fmt in ("date-time", "date", "time"):
            if fmt in formats:
                return _STRING_FORMATS[fmt]
        return "TEXT"
    return ANY  # mixed scalars: store each value as it comes


def json_schema(declared: str, *, nullable: bool = True) -> dict[str, Any]:
    """The JSON Schema for a column of a declared SQLite type (SQLite affinity rules)."""
    name = declared.upper().strip()
    schema: dict[str, Any]
    if name == OBJECT:
        schema = {"type": ["object"]}
    elif name == ARRAY:
        schema = {"type": ["array"], "items": {}}
    elif name == JSON:
        schema = {"type": ["object", "array", "string", "number", "boolean"]}
    elif "BOOL" in name:
        schema = {"type": ["boolean"]}
    elif "TIMESTAMP" in name or "DATETIME" in name:
        schema = {"type": ["string"], "format": "date-time"}
    elif "DATE" in name:
        schema = {"type": ["string"], "format": "date"}
    elif "TIME" in name:
        schema = {"type": ["string"], "format": "time"}
    elif "INT" in name:
        schema = {"type": ["integer"]}
    elif "CHAR" in name or "CLOB" in name or "TEXT" in name:
        schema = {"type": ["string"]}
    elif name == "" or "BLOB" in name:
        schema = {"type": ["string", "number"]}  # bytes are read as base64 text
    else:  # REAL, FLOAT, DOUBLE, NUMERIC, DECIMAL...
        schema = {"type": ["number"]}
    if nullable:
        schema["type"].append("null")
    return schema


def value_kind(declared: str) -> str | None:
    """How the tap converts a stored value of this column: 'json', 'bool', 'blob' or None."""
    name = declared.upper().strip()
    if name in JSON_TYPES:
        return "json"
    if "BOOL" in name:
        return "bool"
    if name == "" or "BLOB" in name:
        return "blob"
    return None
