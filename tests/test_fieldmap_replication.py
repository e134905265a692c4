"""Replication method and key chosen in a field map: parsed in every file shape, checked
against the tap's catalog, written into the catalog the tap gets, and used by a real tap."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from glue_test_helpers import run_cli

import glue_runtime
from glue_runtime.catalog import Catalog, load_catalog
from glue_runtime.errors import ConfigError
from glue_runtime.fieldmap import (
    check,
    load_field_map,
    parse_field_map,
    render_table,
    resolve,
    selector_for_run,
    with_replication,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "fieldmaps"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(EXAMPLES / "catalog.json")


def root_md(entry: dict) -> dict:
    return next(m["metadata"] for m in entry["metadata"] if not m["breadcrumb"])


def entry_of(catalog: dict, name: str) -> dict:
    return next(s for s in catalog["streams"] if s["tap_stream_id"] == name)


def test_every_file_shape_reads_replication_settings(tmp_path: Path) -> None:
    yml = tmp_path / "m.yml"
    yml.write_text(
        "streams:\n  orders:\n    replication_method: incremental\n"
        "    replication_key: updated_at\n"
    )
    js = tmp_path / "m.json"
    js.write_text(
        json.dumps({"streams": {"orders": {"replication_method": "LOG_BASED", "fields": ["id"]}}})
    )
    hg = tmp_path / "fieldMap.json"
    hg.write_text(
        json.dumps(
            {"orders": {"name": "orders", "selected": ["*"], "replication_method": "FULL_TABLE"}}
        )
    )
    (y,) = load_field_map(yml).rules
    assert (y.replication_method, y.replication_key) == ("INCREMENTAL", "updated_at")
    (j,) = load_field_map(js).rules
    assert (j.replication_method, j.replication_key) == ("LOG_BASED", None)
    (h,) = load_field_map(hg).rules
    assert (h.replication_method, h.replication_key) == ("FULL_TABLE", None)


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"replication_method": "SOMETIMES"}, "replication_method is 'SOMETIMES'"),
        ({"replication_key": 5}, "replication_key must be a field name"),
        (
            {"replication_method": "FULL_TABLE", "replication_key": "updated_at"},
            "replication_key 'updated_at' with replication_method FULL_TABLE",
        ),
        ({"replication_mode": "INCREMENTAL"}, "did you mean 'replication_method'"),
    ],
)
def test_malformed_replication_settings_are_refused(entry: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_field_map({"streams": {"orders": entry}}, source="m.yml")
    assert needle in str(err.value)
    assert "orders" in str(err.value)


def test_a_key_not_valid_for_the_stream_is_an_error_listing_the_valid_ones(catalog) -> None:
    fm = parse_field_map({"streams": {"orders": {"replication_key": "updated"}}}, source="m.yml")
    (problem,) = [p for p in check(fm, catalog) if p.level == "error"]
    assert "stream 'orders': replication_key 'updated' is not a valid replication key" in str(
        problem
    )
    assert "Did you mean 'updated_at'?" in problem.message
    assert "valid replication keys of orders" in (problem.hint or "")
    with pytest.raises(ConfigError, match="replication_key 'updated'"):
        resolve(fm, catalog)


def test_without_valid_keys_in_the_catalog_any_top_level_field_may_be_the_key(catalog) -> None:
    ok = parse_field_map({"streams": {"customers": {"replication_key": "email"}}})
    assert not [p for p in check(ok, catalog) if p.level == "error"]
    bad = parse_field_map({"streams": {"customers": {"replication_key": "emial"}}})
    (problem,) = [p for p in check(bad, catalog) if p.level == "error"]
    assert "is not a field of the stream" in problem.message
    assert "Did you mean 'email'?" in problem.message
    assert "fields of customers" in (problem.hint or "")


def test_incremental_without_any_key_is_an_error(catalog) -> None:
    fm = parse_field_map({"streams": {"customers": {"replication_method": "INCREMENTAL"}}})
    (problem,) = [p for p in check(fm, catalog) if p.level == "error"]
    assert "INCREMENTAL needs a replication_key" in problem.message


def test_a_method_the_tap_forces_cannot_be_changed(catalog) -> None:
    raw = catalog.to_dict()
    root_md(entry_of(raw, "orders"))["forced-replication-method"] = "FULL_TABLE"
    fm = parse_field_map({"streams": {"orders": {"replication_key": "updated_at"}}})
    (problem,) = [p for p in check(fm, raw) if p.level == "error"]
    assert "the tap forces FULL_TABLE" in problem.message


def test_the_catalog_for_the_tap_carries_the_settings_in_both_places(
    catalog, tmp_path: Path
) -> None:
    path = tmp_path / "m.yml"
    path.write_text(
        "streams:\n"
        "  customers:\n"
        "    replication_key: email\n"
        "    fields: [name]\n"  # the key is not listed: it is pulled all the same
        "  orders:\n"
        "    replication_method: FULL_TABLE\n"
    )
    _, for_tap = selector_for_run(path, catalog)
    customers = entry_of(for_tap, "customers")
    assert customers["replication_method"] == "INCREMENTAL"
    assert customers["replication_key"] == "email"
    assert root_md(customers)["replication-method"] == "INCREMENTAL"
    assert root_md(customers)["replication-key"] == "email"
    email = next(m for m in customers["metadata"] if m["breadcrumb"] == ["properties", "email"])
    assert email["metadata"]["selected"] is True
    orders = entry_of(for_tap, "orders")  # its one valid key is no longer the replication key
    assert orders["replication_method"] == "FULL_TABLE"
    assert "replication_key" not in orders and "replication-key" not in root_md(orders)
    table = render_table(resolve(load_field_map(path), catalog))
    assert "replication: INCREMENTAL by email" in table
    assert "replication: FULL_TABLE" in table


def test_every_stream_gets_its_method_and_key_in_its_metadata_too(catalog, tmp_path) -> None:
    """Taps that read the [] metadata (pipelinewise's) and not the top-level keys see them."""
    path = tmp_path / "m.yml"
    path.write_text("streams:\n  orders: on\n  customers: on\n")
    _, for_tap = selector_for_run(path, catalog)
    orders, customers = entry_of(for_tap, "orders"), entry_of(for_tap, "customers")
    assert root_md(orders)["replication-method"] == orders["replication_method"] == "INCREMENTAL"
    assert root_md(orders)["replication-key"] == orders["replication_key"] == "updated_at"
    assert root_md(customers)["replication-method"] == "FULL_TABLE"
    assert "replication-key" not in root_md(customers)


def test_with_replication_leaves_an_untouched_catalog_alone(catalog) -> None:
    fm = parse_field_map({"streams": {"orders": "on"}})
    assert with_replication(catalog, fm) is catalog


def test_docs_replication_example(catalog) -> None:
    doc = (EXAMPLES.parent.parent / "fieldmap.md").read_text()
    assert (EXAMPLES / "replication.yml").read_text() in doc  # shown verbatim
    bad = parse_field_map({"streams": {"orders": {"replication_key": "updated"}}}, source="x")
    (problem,) = [p for p in check(bad, catalog) if p.level == "error"]
    assert problem.message.removeprefix("x: ") in doc  # the error the doc shows
    assert (problem.hint or "") in doc
    fm = load_field_map(EXAMPLES / "replication.yml")
    sel = resolve(fm, catalog)
    assert sel.streams["customers"].replication_method == "INCREMENTAL"
    assert sel.streams["customers"].replication_key == "id"
    assert sel.streams["orders"].replication_method == "FULL_TABLE"
    assert sel.streams["orders"].replication_key is None


# ----------------------------------------------------------------------------- a real tap


def _people_db(path: Path, rows: list[tuple[int, str, str]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT)"
        )
        conn.executemany("INSERT INTO people VALUES (?, ?, ?)", rows)


def test_sqlite_tap_reads_incrementally_by_the_field_maps_key(tmp_path: Path) -> None:
    """The tap's own config names no replication key: only the field map makes it incremental.

    The tap runs through a wrapper that keeps a copy of the catalog it was given.
    """
    db = tmp_path / "people.db"
    _people_db(db, [(1, "ada", "2024-01-01"), (2, "bob", "2024-01-02")])
    tap_sqlite = Path(sys.executable).parent / "tap-sqlite"
    wrapper = tmp_path / "tap-keeps-catalog"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, shutil, sys\n"
        "args = sys.argv[1:]\n"
        "if '--catalog' in args:\n"
        "    shutil.copy(args[args.index('--catalog') + 1], 'catalog-given.json')\n"
        f"os.execv({str(tap_sqlite)!r}, [{str(tap_sqlite)!r}, *args])\n"
    )
    wrapper.chmod(0o755)
    (tmp_path / "fieldmap.yml").write_text(
        "streams:\n"
        "  people:\n"
        "    replication_method: INCREMENTAL\n"
        "    replication_key: updated_at\n"
        "    fields: [name]\n"
    )
    (tmp_path / "flow.yml").write_text(
        f"""
name: people
source:
  connector: {wrapper}
  config: {{database: {db}}}
field_map: fieldmap.yml
targets:
  - connector: files
    config: {{output_dir: out, format: jsonl}}
"""
    )
    first = run_cli("run", "flow.yml", "--json", cwd=tmp_path)
    assert first.code == 0, first.stderr
    assert json.loads(first.stdout)["streams"]["people"]["records_in"] == 2
    given = json.loads((tmp_path / "catalog-given.json").read_text())
    people = entry_of(given, "people")
    assert (people["replication_method"], people["replication_key"]) == (
        "INCREMENTAL",
        "updated_at",
    )
    assert root_md(people)["replication-key"] == "updated_at"
    state = json.loads(next((tmp_path / ".glue" / "state").glob("*.json")).read_text())
    assert "2024-01-02" in json.dumps(state)  # the tap bookmarked the field map's key

    _people_db(db, [(3, "cy", "2024-01-03")])
    second = glue_runtime.run_flow(tmp_path / "flow.yml")
    assert second.ok, second.error
    assert second.streams["people"].records_in == 1  # only the row past the bookmark
