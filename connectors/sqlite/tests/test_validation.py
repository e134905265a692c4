"""FastValidator accepts and rejects exactly what the full JSON Schema validator does."""

from __future__ import annotations

import jsonschema
import pytest
from glue_sqlite.validation import FastValidator
from singer_sdk.exceptions import InvalidRecord

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"], "format": "date-time"},
        "price": {"type": ["number", "null"]},
        "ok": {"type": "boolean"},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        "meta": {"type": "object", "properties": {"k": {"type": "integer"}}},
        "size": {"type": "integer", "minimum": 0},
        "any": {},
    },
    "required": ["id"],
}

CASES = [
    {"id": 1},
    {"id": 1, "name": None, "price": 1.5, "ok": True, "tags": ["a"], "meta": {"k": 1}},
    {"id": 1.0},  # a whole float is an integer in JSON Schema
    {"id": True},  # a boolean is not
    {"id": "1"},
    {"name": "x"},  # missing required
    {"id": 1, "price": "cheap"},
    {"id": 1, "price": 3},
    {"id": 1, "ok": 1},
    {"id": 1, "tags": ["a", 2]},
    {"id": 1, "tags": "a"},
    {"id": 1, "meta": {"k": "x"}},
    {"id": 1, "meta": []},
    {"id": 1, "size": -1},
    {"id": 1, "size": 3, "any": [1, {"x": None}], "extra": object()},
]


@pytest.mark.parametrize("record", CASES)
def test_same_verdict_as_jsonschema(record):
    expected = jsonschema.Draft7Validator(SCHEMA).is_valid(record)
    validator = FastValidator(SCHEMA, "s")
    if expected:
        validator.validate(record)
    else:
        with pytest.raises(InvalidRecord, match="stream 's': record"):
            validator.validate(record)


def test_quick_paths_are_used_for_plain_properties():
    validator = FastValidator(SCHEMA, "s")
    assert validator._covered
    assert {name for name, _ in validator._quick} == {"id", "name", "price", "ok"}
    assert [name for name, *_ in validator._arrays] == ["tags"]
    assert {name for name, _ in validator._nested} == {"meta", "size"}


def test_schema_keywords_it_does_not_know_use_the_full_validator():
    schema = {**SCHEMA, "additionalProperties": False}
    validator = FastValidator(schema, "s")
    assert not validator._covered
    with pytest.raises(InvalidRecord, match="must not contain"):
        validator.validate({"id": 1, "surprise": 1})
