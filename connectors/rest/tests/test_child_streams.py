"""Child streams: one request per parent record, its path filled from that record."""

from __future__ import annotations

import pytest
from conftest import config_for, records_of
from glue_rest.tap import TapRest
from rest_fake_api import FakeAPI, make_items, make_notes
from singer_sdk.exceptions import ConfigValidationError

ITEMS = {
    "name": "items",
    "path": "/plain/items",
    "records_path": "$.data[*]",
    "primary_keys": ["id"],
}
NOTES = {
    "name": "notes",
    "path": "/items/{item_id}/notes",
    "records_path": "$.data[*]",
    "primary_keys": ["id"],
    "replication_key": "updated_at",
    "since_param": "since",
    "parent": "items",
    "parent_keys": {"item_id": "id"},
}


def test_a_child_stream_is_read_once_per_parent_record(api: FakeAPI, run_tap):
    api.items = make_items(4)
    messages = run_tap(config_for(api, ITEMS, NOTES))
    assert [r["id"] for r in records_of(messages, "items")] == [1, 2, 3, 4]
    notes = records_of(messages, "notes")
    assert [n["id"] for n in notes] == [n["id"] for i in range(1, 5) for n in make_notes(i)]
    # the first request infers the child's schema (from the first parent record's notes)
    assert [r.path for r in api.requests if r.path.endswith("/notes")] == [
        "/v1/items/1/notes",
        *(f"/v1/items/{i}/notes" for i in range(1, 5)),
    ]


def test_child_bookmarks_are_kept_per_parent_record_and_used_next_run(api: FakeAPI, run_tap):
    api.items = make_items(2)
    first = run_tap(config_for(api, ITEMS, NOTES))
    state = [m for m in first if m["type"] == "STATE"][-1]["value"]
    partitions = state["bookmarks"]["notes"]["partitions"]
    assert {p["context"]["item_id"]: p["replication_key_value"] for p in partitions} == {
        1: make_notes(1)[-1]["updated_at"],
        2: make_notes(2)[-1]["updated_at"],
    }
    api.requests.clear()
    run_tap(config_for(api, ITEMS, NOTES), state=state)
    sent = {r.path: r.query.get("since") for r in api.requests if r.path.endswith("/notes")}
    assert sent == {
        "/v1/items/1/notes": make_notes(1)[-1]["updated_at"],
        "/v1/items/2/notes": make_notes(2)[-1]["updated_at"],
    }


def test_a_child_schema_is_inferred_from_the_first_parent_records_page(api: FakeAPI):
    api.items = make_items(3)
    tap = TapRest(config=config_for(api, ITEMS, NOTES))
    props = tap.streams["notes"].schema["properties"]
    assert {"id", "item_id", "body", "updated_at"} <= set(props)
    assert props["updated_at"].get("format") == "date-time"


@pytest.mark.parametrize(
    ("child", "message"),
    [
        ({**NOTES, "parent": "nope"}, "parent 'nope' is not a declared stream"),
        ({**NOTES, "parent_keys": {}}, "a child stream needs parent_keys"),
        ({k: v for k, v in NOTES.items() if k != "parent"}, "parent_keys needs a `parent`"),
        ({**NOTES, "parent": "notes"}, "its parents form a loop"),
    ],
)
def test_a_bad_child_spec_fails_before_any_request(api: FakeAPI, child, message):
    with pytest.raises(ConfigValidationError, match=message):
        TapRest(config=config_for(api, ITEMS, child))
    assert api.requests == []


def test_a_parent_record_without_the_key_field_names_both_streams(api: FakeAPI, run_tap):
    api.items = make_items(2)
    child = {**NOTES, "parent_keys": {"item_id": "item_code"}, "schema": {"properties": {}}}
    child["replication_key"] = None
    child.pop("since_param")
    with pytest.raises(ConfigValidationError, match="field 'item_code' of stream 'items'"):
        run_tap(config_for(api, ITEMS, child))


def test_selecting_only_the_child_reads_the_parent_without_emitting_it(api: FakeAPI, run_tap):
    api.items = make_items(3)
    config = config_for(api, ITEMS, NOTES)
    catalog = TapRest(config=config).catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == "notes"
    messages = run_tap(config, catalog=catalog)
    assert records_of(messages, "items") == []
    assert len(records_of(messages, "notes")) == 6


def test_two_children_reading_one_placeholder_name_from_different_fields_are_refused(
    api: FakeAPI,
):
    other = {**NOTES, "name": "tags", "parent_keys": {"item_id": "name"}}
    with pytest.raises(ConfigValidationError, match="for the same name under parent 'items'"):
        TapRest(config=config_for(api, ITEMS, NOTES, other))


def test_a_child_reads_every_parent_record_even_when_the_parent_is_incremental(
    api: FakeAPI, run_tap
):
    items = {**ITEMS, "replication_key": "updated_at", "since_param": "since"}
    api.items = make_items(3)
    state = {
        "bookmarks": {"items": {"replication_key": "updated_at", "replication_key_value": "2099"}}
    }
    messages = run_tap(config_for(api, items, NOTES), state=state)
    # no item changed since the bookmark, yet every item's notes are read
    notes_paths = {r.path for r in api.requests if r.path.endswith("/notes")}
    assert notes_paths == {f"/v1/items/{i}/notes" for i in (1, 2, 3)}
    assert len(records_of(messages, "notes")) == 6


def test_parent_key_values_are_url_encoded_in_the_child_path(api: FakeAPI):
    api.items = make_items(1)
    notes = {**NOTES, "schema": {"properties": {"updated_at": {"type": "string"}}}}
    tap = TapRest(config=config_for(api, ITEMS, notes))
    url = tap.streams["notes"].get_url({"item_id": "a#1/b?c"})
    assert url.endswith("/items/a%231%2Fb%3Fc/notes")
