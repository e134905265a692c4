"""TapSqlite on real database files: discovery, full table, incremental bookmarks, errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from glue_sqlite.tap import TapSqlite
from singer_sdk.exceptions import ConfigValidationError


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, updated_at TIMESTAMP);
        INSERT INTO events VALUES (1, 'a', '2024-01-01T00:00:00+00:00'),
                                  (2, 'b', '2024-01-02T00:00:00+00:00'),
                                  (3, 'c', '2024-01-03T00:00:00+00:00');
        CREATE TABLE blobs (k TEXT, v BLOB, flag BOOL, n NUMERIC, other);
        INSERT INTO blobs VALUES ('x', x'00ff', 1, 2.5, 7), ('y', NULL, 0, 3, 'text');
        """
    )
    conn.commit()
    conn.close()
    return path


def records(messages: list[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_discovery_maps_columns_keys_and_types(source):
    catalog = TapSqlite(config={"database": str(source)}).catalog_dict
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert sorted(streams) == ["blobs", "events"]
    events = streams["events"]
    assert events["key_properties"] == ["id"]
    assert events["schema"]["properties"] == {
        "id": {"type": ["integer", "null"]},
        "kind": {"type": ["string"]},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
    }
    blob_props = streams["blobs"]["schema"]["properties"]
    assert blob_props["flag"] == {"type": ["boolean", "null"]}
    assert blob_props["n"] == {"type": ["number", "null"]}
    assert streams["blobs"]["key_properties"] == []


def test_full_table_reads_everything_and_converts_values(source, run_tap):
    messages = run_tap({"database": str(source)})
    assert [r["id"] for r in records(messages, "events")] == [1, 2, 3]
    assert records(messages, "blobs") == [
        {"k": "x", "v": "AP8=", "flag": True, "n": 2.5, "other": 7},
        {"k": "y", "v": None, "flag": False, "n": 3, "other": "text"},
    ]


def test_incremental_second_run_returns_only_newer_rows(source, run_tap):
    config = {
        "database": str(source),
        "tables": [{"name": "events", "replication_key": "updated_at"}],
    }
    first = run_tap(config)
    assert [r["id"] for r in records(first, "events")] == [1, 2, 3]
    state = [m for m in first if m["type"] == "STATE"][-1]["value"]
    assert state["bookmarks"]["events"] == {
        "replication_key": "updated_at",
        "replication_key_value": "2024-01-03T00:00:00+00:00",
    }

    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO events VALUES (4, 'd', '2024-01-04T00:00:00+00:00')")
    conn.execute("INSERT INTO events VALUES (5, 'e', '2023-12-31T00:00:00+00:00')")  # older
    conn.commit()
    conn.close()

    second = run_tap(config, state=state)
    assert [r["id"] for r in records(second, "events")] == [4]
    final = [m for m in second if m["type"] == "STATE"][-1]["value"]
    assert final["bookmarks"]["events"]["replication_key_value"] == "2024-01-04T00:00:00+00:00"

    # inclusive_start re-reads the boundary row (for keys that can tie).
    again = run_tap({**config, "inclusive_start": True}, state=final)
    assert [r["id"] for r in records(again, "events")] == [4]


def test_tables_setting_selects_tables(source, run_tap):
    messages = run_tap({"database": str(source), "tables": ["blobs"]})
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {"blobs"}


def test_unknown_table_is_a_config_error_naming_it(source):
    with pytest.raises(ConfigValidationError, match=r"\['nope'\].*blobs, events"):
        TapSqlite(config={"database": str(source), "tables": ["nope"]}).discover_streams()


def test_unknown_replication_key_is_a_config_error(source):
    config = {"database": str(source), "tables": [{"name": "events", "replication_key": "zz"}]}
    with pytest.raises(ConfigValidationError, match="no column 'zz'"):
        TapSqlite(config=config).discover_streams()


def test_missing_database_is_not_created(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(ConfigValidationError, match="does not exist"):
        TapSqlite(config={"database": str(path)}).discover_streams()
    assert not path.exists()


def test_replication_key_chosen_in_the_catalog(source, capsys):
    """A catalog that marks a column as replication key makes the stream incremental."""
    catalog = TapSqlite(config={"database": str(source)}).catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "events":
            entry["replication_key"] = "id"
            entry["replication_method"] = "INCREMENTAL"
            for md in entry["metadata"]:
                if md["breadcrumb"] == []:
                    md["metadata"]["replication-key"] = "id"
                    md["metadata"]["replication-method"] = "INCREMENTAL"
    state = {"bookmarks": {"events": {"replication_key": "id", "replication_key_value": 2}}}
    capsys.readouterr()
    TapSqlite(config={"database": str(source)}, catalog=catalog, state=state).sync_all()
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in records(out, "events")] == [3]


def test_views_are_streams_too_and_read_incrementally(source, run_tap):
    conn = sqlite3.connect(source)
    conn.execute(
        "CREATE VIEW recent AS SELECT id, upper(kind) AS kind, updated_at FROM events WHERE id > 1"
    )
    conn.commit()
    conn.close()
    catalog = TapSqlite(config={"database": str(source)}).catalog_dict
    assert sorted(s["tap_stream_id"] for s in catalog["streams"]) == ["blobs", "events", "recent"]
    config = {
        "database": str(source),
        "tables": [{"name": "recent", "replication_key": "updated_at"}],
    }
    first = run_tap(config)
    assert [(r["id"], r["kind"]) for r in records(first, "recent")] == [(2, "B"), (3, "C")]
    state = [m for m in first if m["type"] == "STATE"][-1]["value"]
    assert records(run_tap(config, state=state), "recent") == []  # nothing newer


def test_a_broken_view_is_skipped_with_a_warning(source, caplog):
    conn = sqlite3.connect(source)
    conn.executescript(
        "CREATE TABLE gone (x); CREATE VIEW v AS SELECT x FROM gone; DROP TABLE gone;"
    )
    conn.close()
    with caplog.at_level("WARNING"):
        catalog = TapSqlite(config={"database": str(source)}).catalog_dict
    assert sorted(s["tap_stream_id"] for s in catalog["streams"]) == ["blobs", "events"]
    assert "Skipping 'v'" in caplog.text
