"""Batch ETL jobs: land, run the script as a process, load its output, keep snapshots."""

from __future__ import annotations

import json
from pathlib import Path

from glue_test_helpers import FAKE_TAP, FAKE_TARGET, SINGER, read_jsonl, run_cli, write_json

SCRIPT = Path(__file__).parent.parent / "docs" / "examples" / "batch" / "etl.py"


def write_flow(tmp_path: Path, records: int, fmt: str = "jsonl") -> Path:
    flow = tmp_path / "flow.yml"
    flow.write_text(
        f"name: crm\n"
        f"source: {{connector: {FAKE_TAP}, config: {{records: {records}, state_every: 3}}}}\n"
        f"etl: {{script: {SCRIPT}, mode: batch, format: {fmt}}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config: {{output: out.jsonl}}}}]\n"
    )
    return flow


def state(tmp_path: Path) -> dict:
    return json.loads((tmp_path / ".glue/state/crm.json").read_text())


def test_batch_job_lands_transforms_loads_and_commits(tmp_path: Path):
    write_flow(tmp_path, 5)
    result = run_cli("run", "flow.yml", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    out = read_jsonl(tmp_path / "out.jsonl")
    assert [r["name_upper"] for r in out] == [f"USERS-{i}" for i in range(1, 6)]
    assert state(tmp_path) == {"bookmarks": {"users": {"id": 5}}}
    assert "users: 5 new or changed records (flow crm, tenant default)" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["streams"]["users"]["records_in"] == 5
    assert summary["streams"]["users"]["records_out"] == 5
    job_dirs = list((tmp_path / ".glue/jobs").iterdir())
    assert (job_dirs[0] / "sync-output" / "users.jsonl").exists()
    assert (tmp_path / ".glue/snapshots/crm/default/users.snapshot.json").exists()


def test_snapshots_drop_unchanged_records_on_a_full_refresh(tmp_path: Path):
    write_flow(tmp_path, 4, fmt="csv")
    assert run_cli("run", "flow.yml", cwd=tmp_path).code == 0
    again = run_cli("run", "flow.yml", "--full-refresh", cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert "users: 0 new or changed records" in again.stderr
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 4  # nothing sent twice


def test_failing_script_keeps_state_and_snapshots(tmp_path: Path):
    write_flow(tmp_path, 3)
    assert run_cli("run", "flow.yml", cwd=tmp_path).code == 0
    before_state = state(tmp_path)
    snap = tmp_path / ".glue/snapshots/crm/default/users.snapshot.json"
    before_snap = snap.read_text()
    failed = run_cli("run", "flow.yml", cwd=tmp_path, env={"FAIL_ETL": "1"})
    assert failed.code == 4
    assert "mapping table is missing a row" in failed.stderr
    assert "batch ETL script" in failed.stderr and "exited with code 1" in failed.stderr
    assert state(tmp_path) == before_state
    assert snap.read_text() == before_snap
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3


# -- parquet ----------------------------------------------------------------------------------

PARQUET_ETL = Path(__file__).parent / "scripts" / "parquet_etl.py"
ORDERS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "amount": {"type": ["number", "null"]},
        "paid": {"type": ["boolean", "null"]},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "note": {"type": ["string", "null"]},
        "customer": {"type": ["object", "null"], "properties": {"name": {"type": "string"}}},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}
BIG = 2**70 + 1  # a bookmark over 64 bits


def order(i: int) -> dict:
    return {
        "id": i,
        "amount": i * 1.5 if i % 7 else i,  # an integer in a number column becomes a float
        "paid": i % 2 == 0,
        "created_at": f"2024-01-{i % 28 + 1:02d}T10:00:00+00:00",
        "note": None if i % 3 else f"note {i}",
        "customer": {"name": f"c{i}", "vip": i % 5 == 0},
        "tags": [f"t{j}" for j in range(i % 4)],
    }


def write_singer(path: Path, orders: int) -> Path:
    lines = [
        {"type": "SCHEMA", "stream": "orders", "schema": ORDERS_SCHEMA, "key_properties": ["id"]}
    ]
    lines += [
        {"type": "RECORD", "stream": "orders", "record": order(i)} for i in range(1, orders + 1)
    ]
    events_v1 = {"properties": {"id": {"type": "integer"}, "kind": {"type": "string"}}}
    events_v2 = {"properties": {**events_v1["properties"], "weight": {"type": "number"}}}
    lines += [
        {"type": "SCHEMA", "stream": "events", "schema": events_v1, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "events", "record": {"id": 1, "kind": "a"}},
        {"type": "SCHEMA", "stream": "events", "schema": events_v1, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "events", "record": {"id": 2, "kind": "b"}},
        {"type": "SCHEMA", "stream": "events", "schema": events_v2, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "events", "record": {"id": 3, "kind": "c", "weight": 0.5}},
        {"type": "STATE", "value": {"bookmarks": {"orders": {"id": orders, "seq": BIG}}}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run_parquet_job(tmp_path: Path, orders: int, env: dict | None = None):
    """A batch flow file with etl format parquet: replay tap -> landing -> script -> target."""
    from glue_runtime import run_flow

    write_singer(tmp_path / "input.singer", orders)
    flow_file = tmp_path / "flow.yml"
    flow_file.write_text(
        f"name: shop\n"
        f"source: {{connector: {SINGER / 'replay_tap.py'}, config: {{input: input.singer}}}}\n"
        f"etl: {{script: {PARQUET_ETL}, mode: batch, format: parquet}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config: {{output: out.jsonl}}}}]\n"
        f"env: {json.dumps(env or {})}\n"
    )
    return run_flow(flow_file)


def test_parquet_lands_typed_columns_and_a_script_loads_them(tmp_path: Path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.chdir(tmp_path)  # the replay tap's input path is relative
    n = 20_005  # over two landing batches of 10,000 rows
    result = run_parquet_job(tmp_path, n)
    assert result.ok, result.error
    sync = next((tmp_path / ".glue/jobs").iterdir()) / "sync-output"

    orders = pq.ParquetFile(sync / "orders.parquet")
    assert orders.metadata.num_rows == n
    assert orders.metadata.num_row_groups >= 3  # written in batches, not all at once
    schema = orders.schema_arrow
    assert {f.name: f.type for f in schema} == {
        "id": pa.int64(),
        "amount": pa.float64(),
        "paid": pa.bool_(),
        "created_at": pa.string(),
        "note": pa.string(),
        "customer": pa.string(),
        "tags": pa.string(),
    }
    assert all(f.nullable for f in schema)
    rows = orders.read().to_pylist()
    assert rows[6] == {
        "id": 7,
        "amount": 7.0,
        "paid": False,
        "created_at": "2024-01-08T10:00:00+00:00",
        "note": None,
        "customer": '{"name":"c7","vip":false}',
        "tags": '["t0","t1","t2"]',
    }
    assert [r["id"] for r in rows] == list(range(1, n + 1))
    assert json.loads(rows[9]["customer"]) == order(10)["customer"]

    # A changed SCHEMA closes the stream's file and starts <stream>.2.parquet.
    schemas = json.loads((sync / "_schemas.json").read_text())
    assert schemas["events"]["files"] == ["events.parquet", "events.2.parquet"]
    assert schemas["orders"]["files"] == ["orders.parquet"]
    assert pq.read_table(sync / "events.parquet").to_pylist() == [
        {"id": 1, "kind": "a"},
        {"id": 2, "kind": "b"},
    ]
    assert pq.read_table(sync / "events.2.parquet").to_pylist() == [
        {"id": 3, "kind": "c", "weight": 0.5}
    ]
    # The tap's STATE lands exactly, bookmark over 64 bits included.
    assert f'"seq":{BIG}' in (sync / "_state.json").read_text()

    out = read_jsonl(tmp_path / "out.jsonl")
    assert len(out) == n + 3
    loaded = {r["id"]: r for r in out if r.pop("stream") == "orders"}
    assert len(loaded) == n
    assert loaded[10] == {**order(10), "amount": 15.0, "n_tags": 2}
    assert loaded[7]["amount"] == 7.0 and loaded[7]["customer"] == {"name": "c7", "vip": False}
    assert (
        json.loads((tmp_path / ".glue/state/shop.json").read_text())["bookmarks"]["orders"]["id"]
        == n
    )


def test_parquet_without_pyarrow_fails_with_the_install_hint(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "no_pyarrow" / "pyarrow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('pyarrow is blocked for this test')\n")
    result = run_parquet_job(tmp_path, 3, env={"PYTHONPATH": str(blocker.parent)})
    assert not result.ok
    message = str(result.error)
    assert "stream 'orders'" in message
    assert "pip install glue_runtime[parquet]" in message
    assert not (tmp_path / ".glue/state/shop.json").exists()
    assert read_jsonl(tmp_path / "out.jsonl") == []


def test_landing_rejects_an_unknown_format(tmp_path: Path):
    import subprocess
    import sys

    config = write_json(tmp_path / "c.json", {"output_dir": str(tmp_path / "o"), "format": "xml"})
    proc = subprocess.run(
        [sys.executable, "-m", "glue_runtime.batch.landing", "--config", str(config)],
        input=b"",
        capture_output=True,
    )
    assert proc.returncode == 1
    assert b"unknown format 'xml'" in proc.stderr


def _flow_with_script(tmp_path: Path, script: str) -> None:
    (tmp_path / "etl.py").write_text(script)
    (tmp_path / "flow.yml").write_text(
        f"name: crm\n"
        f"source: {{connector: {FAKE_TAP}, config: {{records: 4, state_every: 2}}}}\n"
        f"etl: {{script: etl.py, mode: batch}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config: {{output: out.jsonl}}}}]\n"
    )


def test_a_script_that_writes_nothing_loads_nothing_and_bookmarks_advance(tmp_path: Path):
    """hotglue's rule: an empty etl-output/ is a successful job (a write job with no events)."""
    _flow_with_script(tmp_path, "print('no new events')\n")
    result = run_cli("run", "flow.yml", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert not (tmp_path / "out.jsonl").exists() or read_jsonl(tmp_path / "out.jsonl") == []
    assert state(tmp_path) == {"bookmarks": {"users": {"id": 4}}}


def test_files_without_data_singer_are_named_and_nothing_moves(tmp_path: Path):
    _flow_with_script(
        tmp_path,
        "import os\n"
        "open(os.path.join(os.environ['ETL_OUTPUT'], 'users.csv'), 'w').write('id\\n1\\n')\n",
    )
    result = run_cli("run", "flow.yml", cwd=tmp_path)
    assert result.code == 4
    assert "wrote users.csv to etl-output/ but no data.singer" in result.stderr
    assert not (tmp_path / ".glue/state/crm.json").exists()
