"""Schema inference: CSV text kinds and JSON value shapes."""

from __future__ import annotations

import pytest
from glue_files.infer import (
    classify_text,
    converter_for,
    infer_csv_schema,
    infer_json_schema,
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("42", "integer"),
        ("-7", "integer"),
        ("007", "string"),  # leading zeros: an identifier, not a number
        ("12.50", "number"),
        ("1e3", "number"),
        ("true", "boolean"),
        ("FALSE", "boolean"),
        ("2024-05-01T10:00:00Z", "date-time"),
        ("2024-05-01 10:00", "date-time"),
        ("2024-05-01T10:00:00.123456+02:00", "date-time"),
        ("2024-05-01", "date"),
        ("2024-13-01", "string"),  # looks like a date, is not one
        ('{"a": 1}', "object"),
        ("[1, 2]", "array"),
        ("[not json", "string"),
        ("nan", "string"),
        ("hello", "string"),
    ],
)
def test_classify_csv_text(text: str, kind: str) -> None:
    assert classify_text(text)[0] == kind


def test_csv_columns_take_the_narrowest_common_kind_and_are_nullable() -> None:
    header = ["id", "amount", "flag", "at", "zip", "mixed", "empty", "meta"]
    rows = [
        ["1", "10", "true", "2024-01-01T00:00:00Z", "01234", "1", "", '{"k": 1}'],
        ["2", "10.25", "false", "2024-01-02T00:00:00Z", "98765", "x", "", '{"k": 2, "j": "s"}'],
        ["", "", "", "", "", "", "", ""],
    ]
    props = infer_csv_schema(header, rows)["properties"]
    assert list(props) == header  # header order kept
    assert props["id"] == {"type": ["integer", "null"]}
    assert props["amount"] == {"type": ["number", "null"]}  # integer + number -> number
    assert props["flag"] == {"type": ["boolean", "null"]}
    assert props["at"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["zip"] == {"type": ["string", "null"]}
    assert props["mixed"] == {"type": ["string", "null"]}
    assert props["empty"] == {"type": ["string", "null"]}
    assert props["meta"]["type"] == ["object", "null"]
    assert set(props["meta"]["properties"]) == {"k", "j"}
    assert props["meta"]["properties"]["k"]["type"] == ["integer", "null"]


def test_json_inference_keeps_nested_objects_and_arrays() -> None:
    records = [
        {"id": 1, "price": 2, "who": {"name": "a", "tags": ["x"]}, "at": "2024-01-01T00:00:00Z"},
        {"id": 2, "price": 2.5, "who": None, "extra": True, "at": "2024-01-02T00:00:00Z"},
        {"id": "3", "items": [{"sku": "s", "qty": 1}, {"sku": "t", "qty": 1.5}]},
    ]
    props = infer_json_schema(records)["properties"]
    assert list(props) == ["id", "price", "who", "at", "extra", "items"]
    assert props["id"]["type"] == ["string", "integer", "null"]  # conflicting: both allowed
    assert props["price"]["type"] == ["number", "null"]
    assert props["who"]["type"] == ["object", "null"]
    assert props["who"]["properties"]["tags"] == {
        "type": ["array", "null"],
        "items": {"type": ["string", "null"]},
    }
    assert props["at"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["extra"]["type"] == ["boolean", "null"]
    item = props["items"]["items"]
    assert item["properties"]["qty"]["type"] == ["number", "null"]


def test_converters_follow_the_schema() -> None:
    assert converter_for({"type": ["integer", "null"]})("12") == 12
    assert converter_for({"type": "number"})("12.50") == 12.5
    assert converter_for({"type": "number"})("3") == 3
    assert converter_for({"type": ["boolean", "null"]})("Yes") is True
    assert converter_for({"type": ["object", "null"]})('{"a": [1]}') == {"a": [1]}
    assert converter_for({"type": ["string", "null"], "format": "date-time"}) is None
    assert converter_for({"type": ["string", "integer"]}) is None  # text is a valid string
    with pytest.raises(ValueError):
        converter_for({"type": "integer"})("1.5")
    with pytest.raises(ValueError):
        converter_for({"type": "number"})("nan")
