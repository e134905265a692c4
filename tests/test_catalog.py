"""Catalog model and selection resolution, cross-checked against singer-sdk's own rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.singerlib.catalog import Catalog as SdkCatalog
from singer_sdk.singerlib.catalog import MetadataMapping

from glue_runtime.catalog import (
    Catalog,
    FieldPatterns,
    apply_selection,
    join_path,
    load_catalog,
    selection_from_catalog,
    split_path,
)
from glue_runtime.errors import ConfigError
from glue_runtime.fieldmap import parse_field_map, resolve


def md(crumb: list[str], **meta: Any) -> dict[str, Any]:
    return {"breadcrumb": crumb, "metadata": {k.replace("_", "-"): v for k, v in meta.items()}}


def prop(*names: str) -> list[str]:
    out: list[str] = []
    for n in names:
        out += ["properties", n]
    return out


ORDERS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "updated_at": {"type": "string"},
        "amount": {"type": "number"},
        "secret": {"type": "string"},
        "expensive": {"type": "string"},
        "note": {"type": "string"},
        "forced": {"type": "string"},
        "plain": {"type": "string"},
        "customer": {
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "phone": {"type": "string"},
                "address": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                },
            },
        },
        "hidden_obj": {"type": "object", "properties": {"x": {"type": "string"}}},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "cost": {"type": "number"}},
            },
        },
    },
}

# Every metadata case: automatic, available, unsupported (even with selected: true),
# selected-by-default false, explicit selected false, automatic with selected false,
# nested, parent deselected with a child selected, arrays of objects, no metadata at all,
# a deselected stream, an unsupported stream, and a stream with field metadata but no root.
CATALOG: dict[str, Any] = {
    "streams": [
        {
            "tap_stream_id": "orders",
            "stream": "orders",
            "schema": ORDERS_SCHEMA,
            "metadata": [
                md(
                    [],
                    inclusion="available",
                    selected_by_default=True,
                    table_key_properties=["id"],
                    valid_replication_keys=["updated_at"],
                ),
                md(prop("id"), inclusion="automatic"),
                md(prop("updated_at"), inclusion="automatic"),
                md(prop("amount"), inclusion="available"),
                md(prop("secret"), inclusion="unsupported", selected=True),
                md(prop("expensive"), inclusion="available", selected_by_default=False),
                md(prop("note"), inclusion="available", selected=False),
                md(prop("forced"), inclusion="automatic", selected=False),
                md(prop("customer"), inclusion="available"),
                md(prop("customer", "phone"), inclusion="available", selected=False),
                md(prop("customer", "address", "zip"), selected_by_default=False),
                md(prop("hidden_obj"), inclusion="available", selected=False),
                md(prop("hidden_obj", "x"), inclusion="available", selected=True),
                md(["properties", "lines", "items", "properties", "cost"], selected=False),
            ],
        },
        {
            "tap_stream_id": "logs",
            "schema": {"type": "object", "properties": {"at": {"type": "string"}}},
            "metadata": [md([], inclusion="available", selected_by_default=False)],
        },
        {
            "tap_stream_id": "nometa",
            "stream": "nometa",
            "schema": {"type": "object", "properties": {"a": {}, "b": {}}},
        },
        {
            "tap_stream_id": "chosen",
            "schema": {"type": "object", "properties": {"a": {}, "b": {}}},
            "metadata": [
                md([], selected=True, selected_by_default=False),
                md(prop("b"), selected=False),
            ],
        },
        {
            "tap_stream_id": "off",
            "schema": {"type": "object", "properties": {"a": {}}},
            "metadata": [md([], selected=False), md(prop("a"), selected=True)],
        },
        {
            "tap_stream_id": "unsup",
            "schema": {"type": "object", "properties": {"a": {}}},
            "metadata": [md([], inclusion="unsupported", selected=True)],
        },
        {
            "tap_stream_id": "noroot",
            "schema": {"type": "object", "properties": {"a": {}}},
            "metadata": [md(prop("a"), inclusion="available")],
        },
    ]
}


def test_paths_split_and_join_with_escaped_dots() -> None:
    assert split_path("customer.address.city") == ("customer", "address", "city")
    assert split_path(r"a\.b.c") == ("a.b", "c")
    assert join_path(("a.b", "c")) == r"a\.b.c"
    assert split_path(join_path(("x.y", "z"))) == ("x.y", "z")


def test_stream_properties_read_from_top_level_and_root_metadata() -> None:
    cat = Catalog(CATALOG)
    orders = cat.get("orders")
    assert orders is not None
    assert orders.key_properties == ["id"]
    assert orders.replication_key == "updated_at"  # the one valid replication key
    assert orders.replication_method == "INCREMENTAL"
    entry = {
        "tap_stream_id": "public-t",
        "stream": "t",
        "key_properties": ["k"],
        "replication_key": "ts",
        "replication_method": "LOG_BASED",
        "schema": {"properties": {"k": {}, "ts": {}}},
        "metadata": [md([], table_key_properties=["x"], forced_replication_method="FULL_TABLE")],
    }
    t = Catalog({"streams": [entry]}).get("t")  # found by stream name too
    assert t is not None and t.tap_stream_id == "public-t"
    assert (t.key_properties, t.replication_key, t.replication_method) == (
        ["k"],
        "ts",
        "LOG_BASED",
    )
    forced = Catalog(
        {"streams": [{**entry, "key_properties": None, "replication_method": None}]}
    ).streams[0]
    assert forced.key_properties == ["x"]
    assert forced.replication_method == "FULL_TABLE"
    assert cat.get("nope") is None


def test_every_metadata_case_resolves_like_the_sdk_rules() -> None:
    sel = selection_from_catalog(CATALOG)
    o = sel.streams["orders"]
    assert o.selected
    f = {join_path(p): v for p, v in o.fields.items()}
    assert f["id"] and f["updated_at"]  # automatic
    assert f["amount"]  # available, follows the parent
    assert not f["secret"]  # unsupported wins over selected: true
    assert not f["expensive"]  # selected-by-default false
    assert not f["note"]  # selected false
    assert f["forced"]  # automatic wins over selected: false
    assert f["plain"]  # no metadata entry: the parent's value
    assert f["customer"] and f["customer.email"] and not f["customer.phone"]
    assert f["customer.address"] and f["customer.address.city"]
    assert not f["customer.address.zip"]
    assert not f["hidden_obj"] and not f["hidden_obj.x"]  # parent deselected wins
    assert f["lines"] and f["lines.sku"] and not f["lines.cost"]  # inside an array
    assert o.always == {
        ("id",): "key property",
        ("updated_at",): "replication key",
        ("forced",): "automatic",
    }
    assert ("secret",) in o.unsupported
    assert not sel.streams["logs"].selected  # selected-by-default false
    assert sel.streams["nometa"].selected  # no metadata: everything
    assert all(sel.streams["nometa"].fields.values())
    chosen = sel.streams["chosen"]
    assert chosen.selected and chosen.fields == {("a",): True, ("b",): False}
    assert not sel.streams["off"].selected
    assert not sel.streams["unsup"].selected
    assert not sel.streams["noroot"].selected  # the SDK: no root entry means not selected


def _sdk_breadcrumbs(entry: dict[str, Any]) -> list[tuple[str, ...]]:
    crumbs = {tuple(m["breadcrumb"]) for m in entry.get("metadata", [])}
    cs = Catalog({"streams": [entry]}).streams[0]
    crumbs |= {f.breadcrumb for f in cs.fields.values() if "items" not in f.breadcrumb}
    return sorted(crumbs | {()})


@pytest.mark.parametrize("entry", CATALOG["streams"], ids=lambda e: e["tap_stream_id"])
def test_breadcrumb_resolution_matches_singer_sdk(entry: dict[str, Any]) -> None:
    ours = Catalog({"streams": [entry]}).streams[0]
    sdk = MetadataMapping.from_iterable(entry.get("metadata", []))
    for crumb in _sdk_breadcrumbs(entry):
        assert ours.is_selected(crumb) == sdk._breadcrumb_is_selected(crumb), crumb


def test_record_filtering_matches_singer_sdk() -> None:
    """The SDK's own record filter and ours keep the same fields of the same record."""
    from glue_runtime.stages.select import make_selector

    record = {
        "id": 1,
        "updated_at": "t",
        "amount": 2.5,
        "secret": "s",
        "expensive": "e",
        "note": "n",
        "forced": "f",
        "plain": "p",
        "customer": {"email": "e", "phone": "p", "address": {"city": "c", "zip": "z"}},
        "hidden_obj": {"x": 1},
    }
    sdk_cat = SdkCatalog.from_dict(copy.deepcopy(CATALOG))
    mask = sdk_cat["orders"].metadata.resolve_selection()
    expected = copy.deepcopy(record)
    pop_deselected_record_properties(expected, ORDERS_SCHEMA, mask)
    stage = make_selector(selection_from_catalog(CATALOG))
    msgs = [
        {"type": "SCHEMA", "stream": "orders", "schema": ORDERS_SCHEMA},
        {"type": "RECORD", "stream": "orders", "record": record},
    ]
    out = list(stage(iter(msgs)))
    assert out[1]["record"] == expected


def test_apply_selection_writes_metadata_and_top_level_keys() -> None:
    fm = parse_field_map(
        {
            "streams": {
                "orders": {"fields": ["amount", "customer.email", "lines.sku"]},
                "logs": "on",
            }
        }
    )
    sel = resolve(fm, CATALOG)
    out = apply_selection(CATALOG, sel)
    assert out is not CATALOG and CATALOG["streams"][0].get("selected") is None  # a copy
    by_id = {s["tap_stream_id"]: s for s in out["streams"]}
    orders = by_id["orders"]
    assert orders["selected"] is True
    assert orders["key_properties"] == ["id"]
    assert orders["replication_key"] == "updated_at"
    assert orders["replication_method"] == "INCREMENTAL"
    meta = {tuple(m["breadcrumb"]): m["metadata"] for m in orders["metadata"]}
    assert orders["metadata"][0]["breadcrumb"] == []
    assert meta[()]["selected"] is True
    assert meta[("properties", "amount")]["selected"] is True
    assert meta[("properties", "note")]["selected"] is False
    assert meta[("properties", "customer")]["selected"] is True
    assert meta[("properties", "customer", "properties", "email")]["selected"] is True
    assert meta[("properties", "customer", "properties", "phone")]["selected"] is False
    assert meta[("properties", "lines", "items", "properties", "sku")]["selected"] is True
    # never selected: true on unsupported
    assert meta[("properties", "secret")].get("selected") is not True
    assert by_id["logs"]["selected"] is True
    assert by_id["nometa"]["selected"] is False  # not in the field map: off
    assert all(m["metadata"]["selected"] is False for m in by_id["nometa"]["metadata"])
    unsup_root = by_id["unsup"]["metadata"][0]["metadata"]
    assert unsup_root.get("selected") is not True

    # singer-sdk reading the catalog we hand the tap selects exactly what we resolved
    sdk = SdkCatalog.from_dict(out)
    for sid, ours in sel.streams.items():
        mask = sdk[sid].metadata.resolve_selection()
        assert mask[()] == ours.selected, sid
        if not ours.selected:
            continue
        for path, on in ours.fields.items():
            crumb = Catalog(out).get(sid).fields[path].breadcrumb  # type: ignore[union-attr]
            if "items" in crumb:
                continue  # the SDK does not descend into arrays
            assert mask[crumb] == on, (sid, path)


def test_field_patterns_decide_ancestors_descendants_and_exclusions() -> None:
    p = FieldPatterns.parse(["customer.email", "lines", "*_at"], ["lines.cost"])
    assert p.decide(("customer",)) is True  # container of a chosen field
    assert p.decide(("customer", "email")) is True
    assert p.decide(("customer", "phone")) is False
    assert p.decide(("lines", "sku")) is True  # a whole array of objects
    assert p.decide(("lines", "cost")) is False  # exclude wins
    assert p.decide(("created_at",)) is True
    assert p.decide(("owner", "created_at")) is False  # * does not cross a dot
    assert FieldPatterns.parse(None, ["x"]).decide(("y",)) is None  # left to the catalog


def test_load_catalog_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"bad\.json is not valid JSON"):
        load_catalog(bad)
    bad.write_text('{"streams": [{"schema": {}}]}')
    with pytest.raises(ConfigError, match="tap_stream_id"):
        load_catalog(bad)
    bad.write_text("[]")
    with pytest.raises(ConfigError, match="'streams' list"):
        load_catalog(bad)


def test_a_singer_sdk_tap_given_the_applied_catalog_emits_exactly_the_selection(capsys) -> None:
    """A real singer-sdk tap, in process: discover, resolve a field map, apply, sync."""
    import json as _json

    from singer_sdk import Stream, Tap
    from singer_sdk import typing as th

    class Orders(Stream):
        name = "orders"
        primary_keys = ("id",)
        replication_key = "updated_at"
        schema = th.PropertiesList(
            th.Property("id", th.IntegerType),
            th.Property("updated_at", th.StringType),
            th.Property("amount", th.NumberType),
            th.Property("notes", th.StringType),
            th.Property(
                "customer",
                th.ObjectType(
                    th.Property("email", th.StringType), th.Property("phone", th.StringType)
                ),
            ),
        ).to_dict()

        def get_records(self, context):
            yield {
                "id": 1,
                "updated_at": "2024-01-01",
                "amount": 2.5,
                "notes": "n",
                "customer": {"email": "e", "phone": "p"},
            }

    class Logs(Stream):
        name = "logs"
        schema = th.PropertiesList(th.Property("at", th.StringType)).to_dict()

        def get_records(self, context):
            yield {"at": "now"}

    class TapDemo(Tap):
        name = "tap-demo"
        config_jsonschema = th.PropertiesList().to_dict()

        def discover_streams(self):
            return [Orders(self), Logs(self)]

    discovered = TapDemo(config={}, validate_config=False).catalog_dict
    fm = parse_field_map({"streams": {"orders": ["amount", "customer.email"]}})
    applied = apply_selection(discovered, resolve(fm, discovered))
    capsys.readouterr()
    TapDemo(config={}, catalog=applied, validate_config=False).sync_all()
    lines = [_json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    records = [m for m in lines if m["type"] == "RECORD"]
    assert {m["stream"] for m in lines if "stream" in m} == {"orders"}
    assert [r["record"] for r in records] == [
        {"id": 1, "updated_at": "2024-01-01", "amount": 2.5, "customer": {"email": "e"}}
    ]
    schema = next(m for m in lines if m["type"] == "SCHEMA")
    assert set(schema["schema"]["properties"]) == {"id", "updated_at", "amount", "customer"}
