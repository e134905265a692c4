"""BATCH messages carry no row count: the job counts the rows of local batch files, and reports
files it cannot count as "batch files: N" instead of 0 records."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from glue_test_helpers import FAKE_TARGET, SINGER, run_cli, write_json

import glue_runtime
from glue_runtime.batchcount import BatchCounter, count_rows

REPLAY_TAP = str(SINGER / "replay_tap.py")
JSONL_GZ = {"format": "jsonl", "compression": "gzip"}


def _rows(n: int) -> bytes:
    return b"".join(json.dumps({"id": i}).encode() + b"\n" for i in range(n))


def test_count_rows_of_local_jsonl_plain_gzip_and_parquet(tmp_path: Path) -> None:
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(_rows(1234)))
    (tmp_path / "b.jsonl").write_bytes(_rows(7).rstrip(b"\n"))  # last row without a newline
    assert count_rows((tmp_path / "a.json.gz").as_uri(), JSONL_GZ) == 1234
    assert count_rows(str(tmp_path / "b.jsonl"), {"format": "jsonl"}) == 7
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.table({"id": list(range(42))}), tmp_path / "c.parquet")
    assert count_rows((tmp_path / "c.parquet").as_uri(), {"format": "parquet"}) == 42


def test_count_rows_gives_none_where_it_cannot_count(tmp_path: Path) -> None:
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b not really gzip")
    assert count_rows("s3://bucket/key.json.gz", JSONL_GZ) is None
    assert count_rows((tmp_path / "gone.json.gz").as_uri(), JSONL_GZ) is None
    assert count_rows((tmp_path / "bad.gz").as_uri(), JSONL_GZ) is None
    assert count_rows((tmp_path / "x.csv").as_uri(), {"format": "csv"}) is None


def test_counter_counts_each_file_once_per_side(tmp_path: Path) -> None:
    f = tmp_path / "a.json.gz"
    f.write_bytes(gzip.compress(_rows(5)))
    counter = BatchCounter()
    msg = {"type": "BATCH", "stream": "s", "encoding": JSONL_GZ, "manifest": [f.as_uri()]}
    counter.read(msg)
    counter.read({**msg, "manifest": [f.as_uri(), "s3://b/k"]})
    counter.sent(msg)
    read, sent = counter.finish()
    assert (read["s"].files, read["s"].rows, read["s"].uncounted) == (3, 10, 1)
    assert (sent["s"].files, sent["s"].rows, sent["s"].uncounted) == (1, 5, 0)


def test_job_counts_batch_rows_and_names_uncountable_files(tmp_path: Path) -> None:
    local = tmp_path / "users-1.json.gz"
    local.write_bytes(gzip.compress(_rows(300)))
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    lines = [
        {"type": "SCHEMA", "stream": "users", "schema": schema, "key_properties": ["id"]},
        {"type": "BATCH", "stream": "users", "encoding": JSONL_GZ, "manifest": [local.as_uri()]},
        {"type": "SCHEMA", "stream": "events", "schema": schema, "key_properties": ["id"]},
        {"type": "BATCH", "stream": "events", "encoding": JSONL_GZ,
         "manifest": ["s3://bucket/events-1.json.gz", "s3://bucket/events-2.json.gz"]},
        {"type": "STATE", "value": {"bookmarks": {"users": {"id": 299}}}},
    ]  # fmt: skip
    data = tmp_path / "in.singer"
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    write_json(tmp_path / "tap.json", {"input": str(data)})
    write_json(tmp_path / "target.json", {"output": "out.jsonl", "capture_all": True})
    cli = run_cli(
        "run", "--tap", REPLAY_TAP, "--target", FAKE_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json", cwd=tmp_path,
    )  # fmt: skip
    assert cli.code == 0, cli.stderr
    table = cli.stderr[cli.stderr.index("records in") :]
    users = next(line for line in table.splitlines() if line.strip().startswith("users"))
    assert users.split()[1:] == ["300", "300"]
    events = next(line for line in table.splitlines() if line.strip().startswith("events"))
    assert "batch files: 2" in events and " 0 " not in events
    as_json = run_cli(
        "--log-format", "json", "run", "--tap", REPLAY_TAP, "--target", FAKE_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state2.json", cwd=tmp_path,
    )  # fmt: skip
    ends = [json.loads(x) for x in as_json.stderr.splitlines() if '"stream_end"' in x]
    (end,) = [e for e in ends if e.get("stream") == "events"]
    assert end["message"] == "stream events: batch files: 2 records in, batch files: 2 out"

    result = glue_runtime.run(
        REPLAY_TAP,
        FAKE_TARGET,
        tap_config={"input": str(data)},
        target_config={"output": str(tmp_path / "out2.jsonl"), "capture_all": True},
        state_file=tmp_path / "state2.json",
    )
    assert result.ok, result.error
    assert result.records_in == 300 and result.records_out == 300
    ev = result.as_dict()["streams"]["events"]
    assert (ev["batch_files_in"], ev["batch_uncounted_in"], ev["batch_uncounted_out"]) == (2, 2, 2)
    assert result.batch_uncounted_in == 2


def test_sqlite_tap_in_batch_mode_into_the_files_target_counts_its_rows(tmp_path: Path) -> None:
    """singer-sdk taps write BATCH files when given a batch_config: a real tap and target."""
    db = tmp_path / "people.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO people VALUES (?, ?)", [(i, f"p{i}") for i in range(25)])
    (tmp_path / "batches").mkdir()
    write_json(
        tmp_path / "tap.json",
        {
            "database": str(db),
            "batch_config": {
                "encoding": JSONL_GZ,
                "storage": {"root": (tmp_path / "batches").as_uri()},
            },
        },
    )
    write_json(tmp_path / "target.json", {"output_dir": "out", "format": "jsonl"})
    cli = run_cli(
        "run", "--tap", "sqlite", "--target", "files", "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert cli.code == 0, cli.stderr
    result = json.loads(cli.stdout)
    assert result["streams"]["people"]["batch_files_in"] >= 1
    assert (result["records_in"], result["records_out"]) == (25, 25)
    assert len((tmp_path / "out" / "people.jsonl").read_text().splitlines()) == 25


def test_batch_etl_landing_lands_the_rows_of_batch_files(tmp_path: Path) -> None:
    """Batch ETL jobs land the tap's output first: rows in BATCH files must land too."""
    from glue_runtime.batch.landing import land

    f = tmp_path / "users-1.json.gz"
    f.write_bytes(gzip.compress(b'{"id": 1, "n": 18446744073709551617}\n{"id": 2}\n'))
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    lines = [
        {"type": "SCHEMA", "stream": "users", "schema": schema, "key_properties": ["id"]},
        {"type": "BATCH", "stream": "users", "encoding": JSONL_GZ, "manifest": [f.as_uri()]},
        {"type": "RECORD", "stream": "users", "record": {"id": 3}},
    ]
    data = [json.dumps(x).encode() + b"\n" for x in lines]
    counts = land(iter(data), tmp_path / "out")
    assert counts == {"users": 3}
    landed = (tmp_path / "out" / "users.jsonl").read_text().splitlines()
    assert landed[0] == '{"id":1,"n":18446744073709551617}' and len(landed) == 3

    s3 = {"type": "BATCH", "stream": "users", "encoding": JSONL_GZ, "manifest": ["s3://b/k"]}
    with pytest.raises(SystemExit, match=r"stream 'users': cannot read a BATCH file.*s3://b/k"):
        land(iter([data[0], json.dumps(s3).encode()]), tmp_path / "out2")
