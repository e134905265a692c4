"""tap-files on real files: reading, incremental runs across two syncs, and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from glue_files.source import FilesError

CUSTOMERS = (
    "id,name,amount,vip,joined,updated_at\n"
    "1,Ann,10.50,true,2024-01-01,2024-02-01T00:00:00Z\n"
    "2,Bob,,false,,2024-02-03T00:00:00Z\n"
    "3,Cy,7,,2024-01-05,2024-02-02T00:00:00Z\n"
)


def _write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        import os

        os.utime(path, (mtime, mtime))
    return path


def _config(**stream: Any) -> dict:
    return {"streams": [{"name": "s", **stream}]}


def test_csv_values_are_typed_and_empty_cells_are_null(tmp_path, run_tap, h) -> None:
    _write(tmp_path / "c.csv", CUSTOMERS)
    msgs = run_tap(_config(path=str(tmp_path / "c.csv"), key_properties=["id"]))
    schema = next(m for m in msgs if m["type"] == "SCHEMA")
    assert schema["key_properties"] == ["id"]
    assert schema["schema"]["properties"]["joined"]["format"] == "date"
    recs = h.records(msgs)
    assert [r["id"] for r in recs] == [1, 2, 3]
    first = recs[0]
    assert first["amount"] == 10.5 and first["vip"] is True and first["name"] == "Ann"
    assert recs[1]["amount"] is None and recs[1]["joined"] is None
    assert recs[2]["amount"] == 7
    assert first["_sdc_path"].endswith("c.csv") and first["_sdc_modified_at"]


def test_glob_reads_all_matching_files_in_sorted_order(tmp_path, run_tap, h) -> None:
    _write(tmp_path / "b" / "2.jsonl", '{"id": 3}\n')
    _write(tmp_path / "a" / "1.jsonl", '{"id": 1}\n\n{"id": 2, "x": {"y": [1]}}\n')
    _write(tmp_path / "a" / ".hidden.jsonl", '{"id": 99}\n')  # e.g. a partial output
    msgs = run_tap(_config(path=str(tmp_path / "**" / "*.jsonl")))
    assert [r["id"] for r in h.records(msgs)] == [1, 2, 3]
    props = next(m for m in msgs if m["type"] == "SCHEMA")["schema"]["properties"]
    assert props["x"]["properties"]["y"]["type"] == ["array", "null"]


def test_folder_path_and_given_schema(tmp_path, run_tap, h) -> None:
    _write(tmp_path / "in" / "c.csv", CUSTOMERS)
    _write(tmp_path / "in" / "notes.txt", "not data")
    schema = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "amount": {"type": ["number", "null"]}},
    }
    msgs = run_tap(
        {
            "add_metadata_columns": False,
            "streams": [{"name": "s", "path": str(tmp_path / "in"), "schema": schema}],
        }
    )
    sent = next(m for m in msgs if m["type"] == "SCHEMA")["schema"]["properties"]
    assert set(sent) == {"id", "amount", "_sdc_modified_at"}  # the mtime bookmark stays
    recs = h.records(msgs)
    assert [r["id"] for r in recs] == ["1", "2", "3"]  # the schema says string
    assert "name" not in recs[0]  # not in the given schema


def test_incremental_by_file_mtime_across_runs(tmp_path, run_tap, h) -> None:
    a = _write(tmp_path / "a.csv", "id,v\n1,x\n", mtime=1_700_000_000)
    b = _write(tmp_path / "b.csv", "id,v\n2,y\n", mtime=1_700_000_100)
    config = _config(path=str(tmp_path / "*.csv"), key_properties=["id"])

    first = run_tap(config)
    assert [r["id"] for r in h.records(first)] == [1, 2]
    state = h.states(first)[-1]
    bookmark = state["bookmarks"]["s"]
    assert bookmark["replication_key"] == "_sdc_modified_at"
    assert bookmark["replication_key_value"] == "2023-11-14T22:15:00.000000+00:00"  # b's mtime

    second = run_tap(config, state=state)
    assert h.records(second) == []  # nothing modified since
    assert h.states(second)[-1]["bookmarks"]["s"] == bookmark  # bookmark kept

    _write(a, "id,v\n1,x\n3,z\n", mtime=1_700_000_200)
    third = run_tap(config, state=h.states(second)[-1])
    assert [r["id"] for r in h.records(third)] == [1, 3]  # only the modified file
    assert h.states(third)[-1]["bookmarks"]["s"]["replication_key_value"].startswith(
        "2023-11-14T22:16:40"
    )
    assert b.exists()


def test_incremental_by_replication_key_across_runs(tmp_path, run_tap, h) -> None:
    path = _write(tmp_path / "c.csv", CUSTOMERS)
    config = _config(path=str(path), key_properties=["id"], replication_key="updated_at")
    first = run_tap(config)
    assert len(h.records(first)) == 3
    state = h.states(first)[-1]
    assert state["bookmarks"]["s"] == {
        "replication_key": "updated_at",
        "replication_key_value": "2024-02-03T00:00:00Z",  # the max, though rows are unsorted
    }
    _write(
        path,
        CUSTOMERS
        + "4,Dee,1,true,,2024-03-01T00:00:00Z\n"
        + "5,Eve,1,true,,2024-01-01T00:00:00Z\n"  # older than the bookmark: not sent again
        + "6,Fay,1,true,,\n",  # no key value: only sent on full syncs
    )
    second = run_tap(config, state=state)
    # Rows at the bookmark are sent again (>=), as Singer taps do; older ones are not.
    assert [r["id"] for r in h.records(second)] == [2, 4]
    assert h.states(second)[-1]["bookmarks"]["s"]["replication_key_value"] == (
        "2024-03-01T00:00:00Z"
    )


def test_integer_replication_key_compares_numerically(tmp_path, run_tap, h) -> None:
    path = _write(tmp_path / "e.jsonl", "".join(f'{{"seq": {n}}}\n' for n in (9, 10, 2)))
    config = _config(path=str(path), replication_key="seq")
    state = h.states(run_tap(config))[-1]
    assert state["bookmarks"]["s"]["replication_key_value"] == 10
    _write(path, "".join(f'{{"seq": {n}}}\n' for n in (9, 10, 2, 11)))
    assert [r["seq"] for r in h.records(run_tap(config, state=state))] == [10, 11]


# -- errors -----------------------------------------------------------------------------------


def test_no_matching_files_names_stream_and_pattern(tmp_path, run_tap) -> None:
    pattern = str(tmp_path / "nothing-*.csv")
    with pytest.raises(FilesError) as err:
        run_tap({"streams": [{"name": "orders", "path": pattern}]})
    assert "'orders'" in str(err.value) and pattern in str(err.value)


def test_malformed_csv_row_names_file_and_line(tmp_path, run_tap) -> None:
    path = _write(tmp_path / "bad.csv", "id,name\n1,ann\n2,bob,extra\n")
    with pytest.raises(FilesError) as err:
        run_tap(_config(path=str(path)))
    assert f"{path}, line 3" in str(err.value)
    assert "3 values" in str(err.value)


def test_unterminated_quote_names_file_and_line(tmp_path, run_tap) -> None:
    path = _write(tmp_path / "bad.csv", 'id,name\n1,"ann\n')
    with pytest.raises(FilesError) as err:
        run_tap(_config(path=str(path)))
    assert str(path) in str(err.value) and "malformed CSV" in str(err.value)


def test_malformed_jsonl_line_names_file_and_line(tmp_path, run_tap) -> None:
    path = _write(tmp_path / "bad.jsonl", '{"id": 1}\n{"id": 2,\n')
    with pytest.raises(FilesError) as err:
        run_tap(_config(path=str(path)))
    assert f"{path}, line 2" in str(err.value)
    path.write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(FilesError) as err:
        run_tap(_config(path=str(path)))
    assert f"{path}, line 2" in str(err.value) and "JSON object" in str(err.value)


def test_cell_beyond_the_sample_that_does_not_fit_names_file_line_column(tmp_path, run_tap) -> None:
    path = _write(tmp_path / "c.csv", "id,n\n1,1\n2,2\n3,three\n")
    with pytest.raises(FilesError) as err:
        run_tap({"sample_size": 2, "streams": [{"name": "s", "path": str(path)}]})
    msg = str(err.value)
    assert f"{path}, line 4, column 'n'" in msg and "'three'" in msg and "sample_size" in msg


def test_unknown_key_property_is_an_error(tmp_path, run_tap) -> None:
    path = _write(tmp_path / "c.csv", CUSTOMERS)
    with pytest.raises(FilesError, match=r"Stream 's': key_properties \['ID'\]"):
        run_tap(_config(path=str(path), key_properties=["ID"]))


def test_gzipped_files_are_read_like_plain_ones(tmp_path, run_tap, h) -> None:
    import gzip

    plain = _write(tmp_path / "plain" / "c.csv", CUSTOMERS)
    (tmp_path / "gz").mkdir()
    with gzip.open(tmp_path / "gz" / "c.csv.gz", "wt") as fh:
        fh.write(CUSTOMERS)
    with gzip.open(tmp_path / "gz" / "e.jsonl.gz", "wb") as fh:
        fh.write(b'{"id": 1, "kind": "click"}\n{"id": 2, "kind": "view"}\n')
    from_plain = h.records(run_tap(_config(path=str(plain))))
    from_gz = h.records(run_tap(_config(path=str(tmp_path / "gz" / "c.csv.gz"))))
    strip = lambda recs: [{k: v for k, v in r.items() if not k.startswith("_sdc")} for r in recs]  # noqa: E731
    assert strip(from_gz) == strip(from_plain)
    # a folder picks up the compressed files of the stream's format
    events = h.records(run_tap(_config(path=str(tmp_path / "gz"), format="jsonl")))
    assert [r["kind"] for r in events] == ["click", "view"]


def test_a_truncated_gzip_file_is_named_with_what_to_do(tmp_path, run_tap) -> None:
    import gzip

    data = gzip.compress(CUSTOMERS.encode() * 50)
    (tmp_path / "c.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(FilesError, match=r"c\.csv\.gz: not a complete gzip file"):
        run_tap(_config(path=str(tmp_path / "c.csv.gz")))
