"""TargetSqlite behaviour on real database files: upserts, appends, schema evolution, state."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from glue_sqlite.target import TargetSqlite
from singer_sdk.exceptions import InvalidRecord

USER = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}


def test_upsert_same_key_keeps_one_row_with_latest_values(db, run_target, h):
    run_target(
        {"database": str(db)},
        [
            h.schema("users", USER, ["id"]),
            h.record("users", {"id": 1, "name": "first"}),
            h.record("users", {"id": 2, "name": "other"}),
            h.record("users", {"id": 1, "name": "second"}),
        ],
    )
    # A second run (a new batch, a new process in real life) updates the committed row.
    run_target(
        {"database": str(db)},
        [h.schema("users", USER, ["id"]), h.record("users", {"id": 2, "name": "latest"})],
    )
    assert h.rows(db, "SELECT id, name FROM users ORDER BY id") == [(1, "second"), (2, "latest")]


def test_composite_key_upsert(db, run_target, h):
    props = {"a": {"type": "string"}, "b": {"type": "integer"}, "v": {"type": "number"}}
    run_target(
        {"database": str(db)},
        [
            h.schema("pairs", props, ["a", "b"]),
            h.record("pairs", {"a": "x", "b": 1, "v": 1.0}),
            h.record("pairs", {"a": "x", "b": 2, "v": 2.0}),
            h.record("pairs", {"a": "x", "b": 1, "v": 3.5}),
        ],
    )
    assert h.rows(db, "SELECT a, b, v FROM pairs ORDER BY b") == [("x", 1, 3.5), ("x", 2, 2.0)]


def test_no_keys_appends_every_record(db, run_target, h):
    msgs = [h.schema("log", USER), h.record("log", {"id": 1, "name": "a"})]
    run_target({"database": str(db)}, [*msgs, h.record("log", {"id": 1, "name": "a"})])
    run_target({"database": str(db)}, msgs)
    assert h.rows(db, "SELECT count(*) FROM log") == [(3,)]


def test_schema_evolution_adds_column_and_keeps_removed_one(db, run_target, h):
    wider = {**USER, "email": {"type": "string"}}
    run_target(
        {"database": str(db)},
        [
            h.schema("users", USER, ["id"]),
            h.record("users", {"id": 1, "name": "a"}),
            h.schema("users", wider, ["id"]),
            h.record("users", {"id": 2, "name": "b", "email": "b@x"}),
        ],
    )
    cols = [r[1] for r in h.rows(db, "PRAGMA table_info(users)")]
    assert cols == ["id", "name", "email"]
    assert h.rows(db, "SELECT id, name, email FROM users ORDER BY id") == [
        (1, "a", None),
        (2, "b", "b@x"),
    ]
    # `email` disappears from the schema: the column stays, updated and new rows get NULL.
    run_target(
        {"database": str(db)},
        [
            h.schema("users", USER, ["id"]),
            h.record("users", {"id": 2, "name": "b2"}),
            h.record("users", {"id": 3, "name": "c"}),
        ],
    )
    assert [r[1] for r in h.rows(db, "PRAGMA table_info(users)")] == ["id", "name", "email"]
    assert h.rows(db, "SELECT id, name, email FROM users ORDER BY id") == [
        (1, "a", None),
        (2, "b2", None),
        (3, "c", None),
    ]


def test_records_before_a_schema_change_land_before_later_upserts(db, run_target, h):
    """The old sink is drained when the schema changes, so the newer record wins."""
    wider = {**USER, "email": {"type": "string"}}
    run_target(
        {"database": str(db), "batch_size_rows": 2},
        [
            h.schema("users", USER, ["id"]),
            h.record("users", {"id": 1, "name": "old"}),
            h.schema("users", wider, ["id"]),
            h.record("users", {"id": 1, "name": "new", "email": "e"}),
            h.record("users", {"id": 2, "name": "fills the batch", "email": "f"}),
        ],
    )
    assert h.rows(db, "SELECT name, email FROM users WHERE id = 1") == [("new", "e")]


def test_types_nested_values_and_column_types(db, run_target, h):
    props = {
        "id": {"type": "integer"},
        "price": {"type": ["number", "null"]},
        "ok": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "meta": {"type": "object", "properties": {"k": {"type": "integer"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "anything": {},
    }
    run_target(
        {"database": str(db), "table_prefix": "raw_"},
        [
            h.schema("things", props, ["id"]),
            h.record(
                "things",
                {
                    "id": 1,
                    "price": 9.5,
                    "ok": True,
                    "at": "2024-05-01T10:00:00+00:00",
                    "day": "2024-05-01",
                    "meta": {"k": 1},
                    "tags": ["a", "b"],
                    "anything": "text",
                },
            ),
        ],
    )
    types = {r[1]: r[2] for r in h.rows(db, "PRAGMA table_info(raw_things)")}
    assert types == {
        "id": "INTEGER",
        "price": "REAL",
        "ok": "BOOLEAN",
        "at": "TIMESTAMP",
        "day": "DATE",
        "meta": "OBJECT",
        "tags": "ARRAY",
        "anything": "JSON",
    }
    row = h.rows(db, "SELECT * FROM raw_things")[0]
    assert row[:5] == (1, 9.5, 1, "2024-05-01T10:00:00+00:00", "2024-05-01")
    assert [json.loads(v) for v in row[5:]] == [{"k": 1}, ["a", "b"], "text"]


def test_special_names_are_quoted(db, run_target, h):
    props = {'we"ird col': {"type": "string"}, "select": {"type": "integer"}}
    run_target(
        {"database": str(db)},
        [h.schema('my-stream."x"', props, ["select"]), h.record('my-stream."x"', {"select": 1})],
    )
    assert h.rows(db, 'SELECT "select", "we""ird col" FROM "my-stream.""x"""') == [(1, None)]


def test_key_change_on_existing_table_adds_unique_index(db, run_target, h):
    props = {**USER, "email": {"type": "string"}}
    run_target(
        {"database": str(db)},
        [h.schema("u", props), h.record("u", {"id": 1, "name": "a", "email": "a@x"})],
    )
    run_target(
        {"database": str(db)},
        [h.schema("u", props, ["email"]), h.record("u", {"id": 2, "name": "b", "email": "a@x"})],
    )
    assert h.rows(db, "SELECT id, name, email FROM u") == [(2, "b", "a@x")]


def test_state_is_emitted_after_the_rows_it_covers_are_committed(db, run_target, h):
    state = {"bookmarks": {"users": {"replication_key_value": 2}}}
    states = run_target(
        {"database": str(db)},
        [
            h.schema("users", USER, ["id"]),
            h.record("users", {"id": 1, "name": "a"}),
            h.record("users", {"id": 2, "name": "b"}),
            {"type": "STATE", "value": state},
        ],
    )
    assert states == [state]
    # Another connection sees the rows: they were committed, not just written.
    assert h.rows(db, "SELECT count(*) FROM users") == [(2,)]


def test_no_state_when_the_batch_fails(db, run_target, h, capsys):
    with pytest.raises(InvalidRecord):
        run_target(
            {"database": str(db)},
            [
                h.schema("users", USER, ["id"]),
                h.record("users", {"id": 1, "name": "a"}),
                {"type": "STATE", "value": {"n": 1}},
                h.record("users", {"id": "not a number"}),
            ],
        )
    assert capsys.readouterr().out == ""
    assert h.rows(db, "SELECT count(*) FROM users") == [(0,)]


def test_activate_version_without_metadata_is_ignored(db, run_target, h):
    states = run_target(
        {"database": str(db)},
        [
            {"type": "ACTIVATE_VERSION", "stream": "nobody", "version": 1},
            h.schema("users", USER, ["id"]),
            h.record("users", {"id": 1, "name": "a"}),
            {"type": "ACTIVATE_VERSION", "stream": "users", "version": 2},
            {"type": "STATE", "value": {"done": True}},
        ],
    )
    assert states == [{"done": True}]
    assert h.rows(db, "SELECT id FROM users") == [(1,)]


def test_activate_version_with_metadata_deletes_older_versions(db, run_target, h):
    def rec(i: int, version: int) -> dict:
        return {**h.record("users", {"id": i, "name": str(i)}), "version": version}

    config = {"database": str(db), "add_record_metadata": True}
    run_target(config, [h.schema("users", USER, ["id"]), rec(1, 1), rec(2, 1)])
    run_target(
        config,
        [
            h.schema("users", USER, ["id"]),
            rec(2, 2),
            {"type": "ACTIVATE_VERSION", "stream": "users", "version": 2},
        ],
    )
    assert h.rows(db, "SELECT id, _sdc_table_version FROM users") == [(2, 2)]


def test_database_folder_is_created(tmp_path, run_target, h):
    db = tmp_path / "new" / "dir" / "x.db"
    run_target({"database": str(db)}, [h.schema("s", USER), h.record("s", {"id": 1})])
    assert sqlite3.connect(db).execute("SELECT id, name FROM s").fetchall() == [(1, None)]


def test_append_only_keeps_every_record_even_with_keys(db, run_target, h):
    msgs = [h.schema("users", USER, ["id"]), h.record("users", {"id": 1, "name": "a"})]
    config = {"database": str(db), "load_method": "append-only"}
    run_target(config, [*msgs, h.record("users", {"id": 1, "name": "b"})])
    assert h.rows(db, "SELECT id, name FROM users ORDER BY rowid") == [(1, "a"), (1, "b")]


def test_overwrite_empties_the_table_once_per_run(db, run_target, h):
    wider = {**USER, "email": {"type": "string"}}
    run_target(
        {"database": str(db)}, [h.schema("users", USER, ["id"]), h.record("users", {"id": 9})]
    )
    run_target(
        {"database": str(db), "load_method": "overwrite"},
        [
            h.schema("users", USER, ["id"]),
            h.record("users", {"id": 1, "name": "a"}),
            h.schema("users", wider, ["id"]),  # a new sink in the same run: no second delete
            h.record("users", {"id": 2, "name": "b"}),
        ],
    )
    assert h.rows(db, "SELECT id FROM users ORDER BY id") == [(1,), (2,)]


def test_stream_maps_take_the_general_path(db, h):
    """A stream with a stream map is not on the fast path and still gets mapped."""
    msgs = [h.schema("users", USER, ["id"]), h.record("users", {"id": 1, "name": "secret"})]
    text = "".join(json.dumps(m) + "\n" for m in msgs)
    mapped = TargetSqlite(
        config={"database": str(db), "stream_maps": {"users": {"name": "'hidden'"}}}
    )
    mapped.listen(io.StringIO(text))
    assert "users" not in mapped._fast_sinks
    assert h.rows(db, "SELECT id, name FROM users") == [(1, "hidden")]

    plain = TargetSqlite(config={"database": str(db)})
    plain.listen(io.StringIO(text))
    assert "users" in plain._fast_sinks
    assert h.rows(db, "SELECT id, name FROM users") == [(1, "secret")]
