"""Schemas (declared, from --catalog, or inferred from the first page) and spec checks."""

from __future__ import annotations

import pytest
from glue_rest.tap import TapRest
from singer_sdk.exceptions import ConfigValidationError

SPEC = {
    "name": "items",
    "path": "/plain/items",
    "records_path": "$.data[*]",
    "primary_keys": ["id"],
    "replication_key": "updated_at",
}


def test_schema_is_inferred_from_the_first_page(api, h) -> None:
    tap = TapRest(config=h.config(api, SPEC))
    props = tap.streams["items"].schema["properties"]
    assert props["id"] == {"type": ["integer", "null"]}
    assert props["price"] == {"type": ["number", "null"]}
    assert props["active"] == {"type": ["boolean", "null"]}
    assert props["name"] == {"type": ["string", "null"]}
    assert props["updated_at"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["tags"] == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    assert props["meta"]["properties"]["size"] == {"type": ["integer", "null"]}
    catalog = tap.catalog_dict["streams"][0]
    assert catalog["key_properties"] == ["id"] and catalog["replication_key"] == "updated_at"


def test_mixed_values_get_a_permissive_type(api, h) -> None:
    api.items[0]["name"] = {"first": "x"}
    api.items[1]["price"] = 3
    props = TapRest(config=h.config(api, SPEC)).streams["items"].schema["properties"]
    assert "object" in props["name"]["type"] and "string" in props["name"]["type"]
    assert props["price"] == {"type": ["number", "null"]}  # integers widen to number


def test_declared_schema_is_used_without_a_request(api, h) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, "updated_at": {}}}
    tap = TapRest(config=h.config(api, {**SPEC, "schema": schema}))
    assert tap.streams["items"].schema == schema
    assert api.requests == []


def test_catalog_schema_is_used_without_a_request(api, h) -> None:
    catalog = TapRest(config=h.config(api, SPEC)).catalog_dict
    api.requests.clear()
    tap = TapRest(config=h.config(api, SPEC), catalog=catalog)
    assert "price" in tap.streams["items"].schema["properties"]
    assert api.requests == []


def test_empty_first_page_keeps_the_key_fields(api, h) -> None:
    api.items = []
    props = TapRest(config=h.config(api, SPEC)).streams["items"].schema["properties"]
    assert sorted(props) == ["id", "updated_at"]


def test_unknown_key_field_is_named(api, h) -> None:
    with pytest.raises(ConfigValidationError, match=r"'uid' .* is not in its records"):
        _ = TapRest(config=h.config(api, {**SPEC, "primary_keys": ["uid"]})).streams


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pagination": {"style": "pages"}}, "style is 'pages'; use one of: none, page"),
        ({"pagination": {"style": "cursor"}}, "style 'cursor' needs cursor_path"),
        ({"pagination": {"style": "page", "size": 3}}, "unknown keys \\['size'\\]"),
        ({"records_path": "data"}, "records_path must be a JSONPath"),
        ({"since_param": "since", "replication_key": ""}, "since_param needs a replication"),
    ],
)
def test_bad_stream_spec_is_reported_by_stream(api, h, change, message) -> None:
    with pytest.raises(ConfigValidationError, match=message) as err:
        TapRest(config=h.config(api, {**SPEC, **change}))
    assert "stream 'items'" in str(err.value)
    assert api.requests == []


def test_incomplete_auth_is_named_without_values(api, h) -> None:
    auth = {"type": "basic", "username": "ann"}
    with pytest.raises(ConfigValidationError, match=r"auth type 'basic' needs auth\.password"):
        TapRest(config=h.config(api, SPEC, auth=auth))
