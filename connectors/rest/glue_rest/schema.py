"""JSON schema inferred from sample records (the first page), for streams without one.

Every property is nullable: a first page rarely shows every field filled in. Strings that all
look like ISO 8601 date-times get format date-time, so a timestamp replication key works with
singer-sdk's start_date handling.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from typing import Any

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
#: A type list that accepts any JSON value (singer-sdk chokes on an empty schema `{}`).
ANY_TYPE = ("string", "number", "boolean", "object", "array", "null")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | decimal.Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


class _Node:
    """What we have seen at one place in the records."""

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.props: dict[str, _Node] = {}
        self.items: _Node | None = None
        self.all_datetime = True
        self.all_date = True

    def add(self, value: Any) -> None:
        kind = _kind(value)
        self.kinds.add(kind)
        if kind == "object":
            for key, sub in value.items():
                self.props.setdefault(key, _Node()).add(sub)
        elif kind == "array":
            self.items = self.items or _Node()
            for sub in value:
                self.items.add(sub)
        elif kind == "string":
            self.all_datetime = self.all_datetime and bool(_DATETIME.match(value))
            self.all_date = self.all_date and bool(_DATE.match(value))

    def schema(self) -> dict[str, Any]:
        kinds = self.kinds - {"null"}
        if "integer" in kinds and "number" in kinds:
            kinds.discard("integer")
        if not kinds or len(kinds) > 1:
            # Only nulls seen, or mixed shapes (a string here, an object there): any value.
            return {"type": list(ANY_TYPE)}
        (kind,) = kinds
        out: dict[str, Any] = {"type": [kind, "null"]}
        if kind == "object":
            out["properties"] = {k: n.schema() for k, n in self.props.items()}
            out["additionalProperties"] = True
        elif kind == "array":
            if self.items and self.items.kinds - {"null"}:
                out["items"] = self.items.schema()
        elif kind == "string":
            if self.all_datetime:
                out["format"] = "date-time"
            elif self.all_date:
                out["format"] = "date"
        return out


def infer_schema(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema object covering every property seen in records."""
    root = _Node()
    root.kinds.add("object")
    for record in records:
        if isinstance(record, dict):
            for key, value in record.items():
                root.props.setdefault(key, _Node()).add(value)
    return {"type": "object", "properties": {k: n.schema() for k, n in root.props.items()}}
