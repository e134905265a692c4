"""Field map files: both shapes, wildcards, defaults, errors with suggestions, init/show/check."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from glue_runtime.catalog import Catalog, join_path, load_catalog, selection_from_catalog
from glue_runtime.errors import ConfigError
from glue_runtime.fieldmap import (
    SHAPE_HOTGLUE,
    SHAPE_JSON,
    SHAPE_YAML,
    check,
    init_field_map,
    load_field_map,
    parse_field_map,
    render_table,
    resolve,
    selector_for_run,
    write_catalog_selected,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "fieldmaps"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(EXAMPLES / "catalog.json")


def pulled(sel, stream: str) -> set[str]:
    s = sel.streams[stream]
    return {join_path(p) for p, on in s.fields.items() if on} if s.selected else set()


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ----------------------------------------------------------------------------- the doc's examples


def test_docs_examples_all_load_and_resolve(catalog: Catalog) -> None:
    files = sorted(p for p in EXAMPLES.iterdir() if p.name != "catalog.json")
    assert {p.name for p in files} >= {
        "basic.yml",
        "fields.yml",
        "wildcards.yml",
        "fieldmap.json",
        "hotglue-fieldMap.json",
    }
    for path in files:
        fm = load_field_map(path)
        sel = resolve(fm, catalog)
        assert sel.selected_streams, path


def test_docs_example_basic(catalog: Catalog) -> None:
    fm = load_field_map(EXAMPLES / "basic.yml")
    sel = resolve(fm, catalog)
    assert fm.shape == SHAPE_YAML
    assert sel.selected_streams == ["orders", "customers"]  # unlisted streams are off
    assert "internal_score" not in pulled(sel, "orders")  # unsupported, never pulled
    assert {"notes", "customer.phone", "lines.unit_cost"} <= pulled(sel, "orders")


def test_docs_example_fields_and_exclude(catalog: Catalog) -> None:
    sel = resolve(load_field_map(EXAMPLES / "fields.yml"), catalog)
    assert pulled(sel, "orders") == {
        "id",
        "updated_at",
        "status",
        "amount",
        "customer",
        "customer.email",
        "lines",
        "lines.sku",
        "lines.qty",
    }
    assert sel.streams["orders"].always == {
        ("id",): "key property",
        ("updated_at",): "replication key",
    }
    assert pulled(sel, "customers") == {"id", "name", "email"}
    assert sel.streams["customers"].ignored == ["avatar_url", "website_url"]


def test_docs_example_wildcards(catalog: Catalog) -> None:
    sel = resolve(load_field_map(EXAMPLES / "wildcards.yml"), catalog)
    assert sel.streams["audit_logins"].selected  # matched by "audit_*"
    assert not sel.streams["audit_exports"].selected  # the exact entry wins
    assert sel.streams["customers"].selected  # unlisted_streams: catalog
    assert "customer.phone" not in pulled(sel, "orders")
    assert "lines.unit_cost" not in pulled(sel, "orders")  # "lines.*_cost"
    assert "customer.email" in pulled(sel, "orders")


def test_docs_example_json_and_hotglue_shapes(catalog: Catalog) -> None:
    fm = load_field_map(EXAMPLES / "fieldmap.json")
    assert fm.shape == SHAPE_JSON
    sel = resolve(fm, catalog)
    assert not sel.streams["customers"].selected
    assert {"customer.email", "customer.phone"} <= pulled(sel, "orders")  # whole object
    assert "lines" not in pulled(sel, "orders")

    hg = load_field_map(EXAMPLES / "hotglue-fieldMap.json")
    assert hg.shape == SHAPE_HOTGLUE
    sel = resolve(hg, catalog)
    assert pulled(sel, "orders") == {
        "id",
        "updated_at",
        "status",
        "amount",
        "customer",
        "customer.email",
    }
    assert pulled(sel, "customers") == {"id", "name", "email", "avatar_url", "website_url"}  # "*"
    assert not sel.streams["audit_logins"].selected
    assert "read as: hotglue fieldMap.json" in render_table(sel)


# ----------------------------------------------------------------------------- parsing


def test_stream_value_forms(catalog: Catalog) -> None:
    fm = parse_field_map(
        yaml.safe_load(
            """
            streams:
              orders: [status]
              customers:
              audit_logins: "*"
              audit_exports: off
            """
        )
    )
    sel = resolve(fm, catalog)
    assert pulled(sel, "orders") == {"id", "updated_at", "status"}
    assert sel.streams["customers"].selected  # an empty value means on
    assert pulled(sel, "audit_logins") == {"at", "user"}
    assert not sel.streams["audit_exports"].selected


def test_hotglue_empty_selection_is_off_and_name_wins_over_key(catalog: Catalog) -> None:
    fm = parse_field_map(
        {
            "a": {"name": "orders", "selected": []},
            "b": {"name": "customers", "selected": "*"},
        }
    )
    assert fm.shape == SHAPE_HOTGLUE
    sel = resolve(fm, catalog)
    assert not sel.streams["orders"].selected
    assert sel.streams["customers"].selected


def test_unlisted_streams_default_is_off_and_catalog_is_opt_in(catalog: Catalog) -> None:
    off = resolve(parse_field_map({"streams": {"orders": True}}), catalog)
    assert off.selected_streams == ["orders"]
    assert "unlisted streams are off" in off.streams["customers"].reason
    follow = resolve(
        parse_field_map({"unlisted_streams": "catalog", "streams": {"orders": False}}), catalog
    )
    assert follow.selected_streams == ["customers"]  # audit_* are selected-by-default false


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"stream": {}}, r"unknown key 'stream' at the top level\n  hint: did you mean 'streams'"),
        ({"streams": {"orders": {"fileds": ["a"]}}}, r"did you mean 'fields'"),
        ({"streams": {"orders": {"fields": [1]}}}, "must be a list of field names"),
        ({"streams": {"orders": 3}}, "must be on/off, a list of fields, or a mapping"),
        ({"streams": ["orders"]}, "'streams' must be a mapping"),
        ({"unlisted_streams": "on", "streams": {}}, "unlisted_streams is 'on'"),
        ({"version": 2}, "version 2 is not supported"),
        ({"streams": {True: "on"}}, "quote stream names"),
    ],
)
def test_malformed_field_maps_are_config_errors(data: Any, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        parse_field_map(data)


def test_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_field_map(tmp_path / "nope.yml")
    bad = write(tmp_path, "bad.yml", "streams:\n  orders: [a\n  b: c\n")
    with pytest.raises(ConfigError, match=r"bad.yml is not valid YAML at line \d+"):
        load_field_map(bad)
    bad_json = write(tmp_path, "bad.json", '{"streams": ')
    with pytest.raises(ConfigError, match=r"bad\.json is not valid JSON"):
        load_field_map(bad_json)


# ----------------------------------------------------------------------------- errors and checks


def test_unknown_stream_lists_streams_and_suggests(catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve(parse_field_map({"streams": {"order": "on"}}), catalog)
    err = exc.value
    assert "stream 'order' is not in the tap's catalog. Did you mean 'orders'?" in err.message
    assert err.hint is not None and "orders, customers, audit_logins, audit_exports" in err.hint


def test_unknown_field_suggests_closest_and_lists_fields(catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve(parse_field_map({"streams": {"orders": {"fields": ["amout"]}}}), catalog)
    assert "has no field 'amout'" in exc.value.message
    assert "Did you mean 'amount'?" in exc.value.message
    assert "customer.email" in (exc.value.hint or "")
    with pytest.raises(ConfigError, match=r"Did you mean 'customer\.email'"):
        resolve(parse_field_map({"streams": {"orders": {"exclude": ["customer.emial"]}}}), catalog)


def test_all_errors_reported_together(catalog: Catalog) -> None:
    fm = parse_field_map({"streams": {"ordrs": "on", "customers": ["nmae"]}})
    with pytest.raises(ConfigError) as exc:
        resolve(fm, catalog)
    assert "'ordrs'" in str(exc.value) and "'nmae'" in str(exc.value)


def test_unsupported_field_or_stream_requested_is_an_error(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="'internal_score' is unsupported by the tap"):
        resolve(parse_field_map({"streams": {"orders": ["internal_score"]}}), catalog)
    # a wildcard that happens to match it just does not pull it
    sel = resolve(parse_field_map({"streams": {"orders": ["*"]}}), catalog)
    assert "internal_score" not in pulled(sel, "orders")
    raw = copy.deepcopy(catalog.raw)
    raw["streams"][2]["metadata"][0]["metadata"]["inclusion"] = "unsupported"
    with pytest.raises(ConfigError, match="stream 'audit_logins' is unsupported"):
        resolve(parse_field_map({"streams": {"audit_logins": "on"}}), raw)


def test_key_properties_and_replication_keys_cannot_be_dropped(catalog: Catalog) -> None:
    fm = parse_field_map({"streams": {"orders": {"exclude": ["id", "updated_at", "status"]}}})
    problems = check(fm, catalog)
    texts = [str(p) for p in problems]
    assert any("'id' is a key property and is always pulled" in t for t in texts)
    assert any("'updated_at' is a replication key" in t for t in texts)
    sel = resolve(fm, catalog)
    assert {"id", "updated_at"} <= pulled(sel, "orders")
    assert "status" not in pulled(sel, "orders")


def test_wildcard_that_matches_nothing_is_a_warning(catalog: Catalog) -> None:
    fm = parse_field_map({"streams": {"x_*": "on", "orders": {"exclude": ["*_zzz"]}}})
    problems = check(fm, catalog)
    assert all(p.level == "warning" for p in problems)
    texts = " | ".join(str(p) for p in problems)
    assert "stream pattern 'x_*' matches no stream" in texts
    assert "exclude pattern '*_zzz' matches no field" in texts


def test_last_matching_pattern_wins_and_exact_beats_pattern(catalog: Catalog) -> None:
    fm = parse_field_map({"streams": {"*": "on", "audit_*": "off", "audit_logins": "on"}})
    sel = resolve(fm, catalog)
    assert sel.selected_streams == ["orders", "customers", "audit_logins"]


def test_check_reports_schema_drift(catalog: Catalog) -> None:
    fm = parse_field_map(
        {"streams": {"orders": {"fields": ["status", "amount", "customer.email"]}}}
    )
    drifted = copy.deepcopy(catalog.raw)
    props = drifted["streams"][0]["schema"]["properties"]
    del props["amount"]  # disappeared at the source
    props["discount"] = {"type": "number"}  # appeared
    problems = check(fm, drifted)
    errors = [p for p in problems if p.level == "error"]
    warnings = [str(p) for p in problems if p.level == "warning"]
    assert len(errors) == 1 and "has no field 'amount'" in errors[0].message
    assert "removed at the source" in errors[0].message
    assert any("does not mention (not pulled)" in w and "discount" in w for w in warnings)
    assert any("does not list (off)" in w and "audit_logins" in w for w in warnings)
    # once the map no longer names the lost field, the run resolves (the new field is off)
    fm2 = parse_field_map({"streams": {"orders": {"fields": ["status", "customer.email"]}}})
    sel = resolve(fm2, drifted)
    assert "discount" not in pulled(sel, "orders")
    assert any("discount" in w for w in sel.warnings)


# ----------------------------------------------------------------------------- init, show, write


def test_init_lists_everything_and_loads_back_to_the_catalog_default(
    catalog: Catalog, tmp_path: Path
) -> None:
    text = init_field_map(catalog, title="tap-example")
    path = write(tmp_path, "fieldmap.yml", text)
    fm = load_field_map(path)
    assert [r.pattern for r in fm.rules] == catalog.names
    assert "# internal_score  (unsupported by the tap)" in text
    assert "- id  # always pulled: key property" in text
    assert "selected: false  # off by default" in text
    sel = resolve(fm, catalog)
    default = selection_from_catalog(catalog)
    for sid in catalog.names:
        assert sel.streams[sid].selected == default.streams[sid].selected, sid
        if default.streams[sid].selected:
            assert sel.streams[sid].fields == default.streams[sid].fields, sid
    assert not [p for p in check(fm, catalog) if p.level == "error"]


def test_init_quotes_and_escapes_awkward_names(tmp_path: Path) -> None:
    raw = {
        "streams": [
            {
                "tap_stream_id": "on",
                "schema": {
                    "properties": {
                        "a.b": {"type": "string"},
                        "star*": {"type": "string"},
                        "off": {"type": "string"},
                        "x y": {"type": "string"},
                        "deep": {
                            "type": "object",
                            "properties": {"c.d": {"type": "string"}},
                        },
                    }
                },
                "metadata": [
                    {"breadcrumb": [], "metadata": {"selected-by-default": True}},
                    {
                        "breadcrumb": ["properties", "x y"],
                        "metadata": {"selected-by-default": False},
                    },
                ],
            }
        ]
    }
    text = init_field_map(raw)
    fm = load_field_map(write(tmp_path, "m.yml", text))
    sel = resolve(fm, raw)
    assert sel.streams["on"].selected
    assert pulled(sel, "on") == {r"a\.b", "star*", "off", "deep", r"deep.c\.d"}


def test_render_table_shows_on_off_pulled_ignored_and_why(catalog: Catalog) -> None:
    sel = resolve(load_field_map(EXAMPLES / "fields.yml"), catalog)
    table = render_table(sel)
    lines = table.splitlines()
    assert "read as: glue field map (YAML)" in lines[0]
    header = next(line for line in lines if line.startswith("STREAM"))
    assert header.split()[:5] == ["STREAM", "ON", "PULLED", "IGNORED", "WHY"]
    row = next(line for line in lines if line.startswith("audit_logins "))
    assert row.split()[1] == "off" and "unlisted streams are off" in row
    orders_row = next(line for line in lines if line.startswith("orders "))
    assert orders_row.split()[1:4] == ["on", "7", "5"]  # leaf fields pulled / ignored
    assert (
        "  pulled:      id, updated_at, status, amount, customer.email, lines.sku, lines.qty"
        in table
    )
    assert "id (key property), updated_at (replication key)" in table
    assert "  unsupported: internal_score" in table


def test_write_catalog_selected(catalog: Catalog, tmp_path: Path) -> None:
    sel = resolve(load_field_map(EXAMPLES / "basic.yml"), catalog)
    out = tmp_path / "etl" / "catalog-selected.json"
    data = write_catalog_selected(out, catalog, sel)
    on_disk = orjson.loads(out.read_bytes())
    assert on_disk == json.loads(json.dumps(data))
    assert [s["selected"] for s in on_disk["streams"]] == [True, True, False, False]


def test_selector_for_run_fails_before_the_tap_and_returns_stage_and_catalog(
    catalog: Catalog, tmp_path: Path, caplog
) -> None:
    bad = write(tmp_path, "bad.yml", "streams:\n  ordres: on\n")
    with pytest.raises(ConfigError, match="Did you mean 'orders'"):
        selector_for_run(bad, catalog.raw)
    with pytest.raises(ConfigError, match="needs the tap's catalog"):
        selector_for_run(bad, None)
    good = write(tmp_path, "good.yml", "streams:\n  orders: [status]\n")
    with caplog.at_level(logging.WARNING, logger="glue_runtime.fieldmap"):
        stage, tap_catalog = selector_for_run(good, catalog.raw)
    assert "does not list (off) (3): customers, audit_logins, audit_exports" in caplog.text
    assert [s["selected"] for s in tap_catalog["streams"]] == [True, False, False, False]
    out = list(
        stage(
            iter(
                [
                    {"type": "RECORD", "stream": "orders", "record": {"id": 1, "amount": 3}},
                    {"type": "RECORD", "stream": "customers", "record": {"id": 1}},
                ]
            )
        )
    )
    assert out == [{"type": "RECORD", "stream": "orders", "record": {"id": 1}}]


def test_docs_show_the_example_files_verbatim() -> None:
    doc = (EXAMPLES.parent.parent / "fieldmap.md").read_text()
    for name in (
        "basic.yml",
        "fields.yml",
        "wildcards.yml",
        "fieldmap.json",
        "hotglue-fieldMap.json",
    ):
        assert (EXAMPLES / name).read_text() in doc, name
