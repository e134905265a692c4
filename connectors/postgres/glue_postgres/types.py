"""JSON Schema <-> PostgreSQL column types, shared by the target and the tap.

One rule per JSON type, chosen so every valid value loads without loss:

| JSON Schema                              | PostgreSQL         |
|------------------------------------------|--------------------|
| integer                                  | bigint             |
| number (or integer + number)             | numeric            |
| boolean                                  | boolean            |
| string, format date-time                 | timestamptz        |
| string, format date                      | date               |
| string, format time                      | time               |
| string (other formats, or none)          | text               |
| object, array, {} (anything)             | jsonb              |
| mixed scalar types (e.g. string+integer) | text (non-strings as JSON text) |

`numeric` rather than `double precision` for number: it stores the decimal text of each value
exactly (JSON numbers are decimals; a float column would round 0.1 + 0.2 style values).
"""

from __future__ import annotations

from typing import Any

BIGINT = "bigint"
NUMERIC = "numeric"
BOOLEAN = "boolean"
TIMESTAMPTZ = "timestamp with time zone"
DATE = "date"
TIME = "time without time zone"
TEXT = "text"
JSONB = "jsonb"

_FORMATS = {"date-time": TIMESTAMPTZ, "date": DATE, "time": TIME}

# How the target turns a Python value into COPY text, per column: None = as psycopg dumps it.
KIND_JSON = "json"  # any value -> JSON text
KIND_MIXED = "mixed"  # strings as they are, anything else -> JSON text


def quote_ident(name: str) -> str:
    """Quote an identifier so any stream or property name is usable as-is (case kept)."""
    return '"' + name.replace('"', '""') + '"'


def _collect(schema: Any, types: set[str], formats: list[str | None]) -> None:
    """Gather the JSON types a (possibly anyOf/oneOf) schema allows, and the format of each
    branch that allows strings (None when a string branch has no format)."""
    if not isinstance(schema, dict):
        return
    declared = schema.get("type")
    if isinstance(declared, str):
        declared = [declared]
    if isinstance(declared, list):
        types.update(declared)
        if "string" in declared:
            formats.append(schema.get("format"))
    branches = [b for key in ("anyOf", "oneOf") for b in schema.get(key) or ()]
    for sub in branches:
        _collect(sub, types, formats)
    if declared is None and not branches:
        types.add("any")


_INTEGERS = {"smallint", "integer", BIGINT}
_SCALARS = {
    *_INTEGERS,
    NUMERIC,
    "real",
    "double precision",
    BOOLEAN,
    TIMESTAMPTZ,
    "timestamp without time zone",
    DATE,
    TIME,
}


def widens(old: str, new: str) -> bool:
    """True when a column of type ``old`` can become ``new`` keeping every value exactly: an
    integer type to numeric (integer -> number) or any scalar type to text (-> string). Not
    float types to numeric: PostgreSQL converts those with 15 significant digits."""
    base = old.split("(")[0].strip()
    if new == NUMERIC:
        return base in _INTEGERS or base == NUMERIC  # numeric(p,s) -> numeric: unbounded
    if new == TEXT:
        return base in _SCALARS or base.startswith(("character", "varchar"))
    return False


def pg_type(prop: Any) -> tuple[str, str | None]:
    """The PostgreSQL column type for one JSON Schema property, and its value kind."""
    types: set[str] = set()
    formats: list[str | None] = []
    _collect(prop, types, formats)
    types.discard("null")
    if not types or "any" in types or "object" in types or "array" in types:
        return JSONB, KIND_JSON
    if types == {"boolean"}:
        return BOOLEAN, None
    if types == {"integer"}:
        return BIGINT, None
    if types <= {"integer", "number"}:
        return NUMERIC, None
    if types == {"string"}:
        # A format only when every string branch has it: anyOf [date-time, plain string]
        # admits strings that timestamptz would reject.
        if formats and all(f == formats[0] for f in formats) and formats[0] in _FORMATS:
            return _FORMATS[formats[0]], None
        return TEXT, None
    return TEXT, KIND_MIXED


def json_schema(pg: str, *, nullable: bool = True) -> dict[str, Any]:
    """The JSON Schema for a column of a PostgreSQL type (as format_type() names it)."""
    name = pg.lower()
    base = name.split("(")[0].strip()
    schema: dict[str, Any]
    if name.endswith("[]"):
        schema = {"type": ["array"], "items": {}}
    elif base in ("json", "jsonb"):
        # any JSON value; listed rather than {} because tools (singer-sdk's own) need a type
        schema = {"type": ["object", "array", "string", "number", "boolean"]}
    elif base in ("bigint", "integer", "smallint"):
        schema = {"type": ["integer"]}
    elif base in ("numeric", "real", "double precision"):
        schema = {"type": ["number"]}
    elif base == "boolean":
        schema = {"type": ["boolean"]}
    elif base.startswith("timestamp"):
        schema = {"type": ["string"], "format": "date-time"}
    elif base == "date":
        schema = {"type": ["string"], "format": "date"}
    elif base.startswith("time"):
        schema = {"type": ["string"], "format": "time"}
    else:  # text, varchar, char, uuid, inet, interval, bytea, enums...
        schema = {"type": ["string"]}
    if nullable and "type" in schema:
        schema["type"].append("null")
    return schema
