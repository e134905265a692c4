"""The compiled quick check never accepts what the full validator rejects, and accepts the
ordinary valid records (otherwise the fast path would not be fast)."""

from __future__ import annotations

import itertools

import fastjsonschema
import pytest
from glue_files.quickcheck import compile_check

SCHEMAS = {
    "singer": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "price": {"type": ["number", "null"]},
            "name": {"type": "string", "format": "date-time", "description": "d"},
            "ok": {"type": "boolean"},
            "status": {"type": "string", "enum": ["paid", "sent"]},
            "maybe": {"type": ["string", "null"], "enum": ["a", None]},
            "addr": {
                "type": ["object", "null"],
                "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}},
                "required": ["city"],
            },
            "tags": {"type": "array", "items": {"type": "string"}},
            "rows": {
                "type": ["array", "null"],
                "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
            },
            "any": {},
            "sdk": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        },
        "required": ["id"],
    },
    "delegated": {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1},
            "s": {"type": "string", "maxLength": 3, "pattern": "^a"},
            "o": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "e": {"enum": [1, True, "x"]},
            "t": {"type": "array", "items": [{"type": "integer"}]},
        },
        "additionalProperties": False,
    },
    "closed": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {}},
        "required": ["b"],
        "additionalProperties": False,
    },
}
BASE = {
    "singer": {
        "id": 1,
        "price": 1.5,
        "name": "x",
        "ok": True,
        "status": "paid",
        "maybe": None,
        "addr": {"city": "Oslo", "zip": 1},
        "tags": ["a"],
        "rows": [{"n": 1}],
        "any": [1],
        "sdk": "2024-01-01T00:00:00Z",
    },
    "delegated": {"n": 2, "s": "ab", "o": 3, "e": "x", "t": [1]},
    "closed": {"a": 1, "b": None},
}
ABSENT = object()
PALETTE = [
    ABSENT,
    None,
    0,
    1,
    True,
    False,
    1.0,
    2.5,
    "",
    "a",
    "abcd",
    "paid",
    "bad",
    [],
    ["a"],
    [1],
    [None],
    [{"n": 1}],
    [{"n": "x"}],
    {},
    {"city": "Oslo"},
    {"city": 1},
    {"zip": 1},
    {"city": "Oslo", "zip": "1"},
    {"n": 1},
]


def _passes(validate, record: dict) -> bool:
    try:
        validate(record)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_quick_check_is_sound_and_accepts_the_common_record(name: str) -> None:
    schema = SCHEMAS[name]
    full = fastjsonschema.compile(schema, use_formats=False, use_default=False)
    check = compile_check(schema)
    assert check is not None
    base = BASE[name]
    assert _passes(full, base) and check(base), check.source
    fields = [*schema["properties"], "extra"]
    accepted = rejected = 0
    # Every palette value in every field, and in every pair of fields.
    for f1, f2 in itertools.combinations_with_replacement(fields, 2):
        for v1, v2 in itertools.product(PALETTE, PALETTE if f1 != f2 else [ABSENT]):
            record = dict(base)
            for field, value in ((f1, v1), (f2, v2)):
                if value is ABSENT:
                    record.pop(field, None)
                else:
                    record[field] = value
            verdict = _passes(full, record)
            if check(record):
                assert verdict, (record, check.source)  # never accept what the full one rejects
                accepted += 1
            else:
                rejected += 1
    assert accepted and rejected


def test_key_properties_are_checked_and_refs_get_no_quick_check() -> None:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    check = compile_check(schema, ["id"])
    assert check({"id": 1}) and not check({}) and not check({"id": "1"})
    keys_only = compile_check(None, ["id"])  # validation off: only the key properties
    assert keys_only({"id": "anything"}) and not keys_only({"x": 1})
    assert compile_check(None, []) is None
    with_ref = {
        "definitions": {"i": {"type": "integer"}},
        "type": "object",
        "properties": {"id": {"$ref": "#/definitions/i"}},
    }
    assert compile_check(with_ref) is None
    assert compile_check({"type": "array"}) is None
