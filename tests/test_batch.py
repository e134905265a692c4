"""Batch ETL jobs: land, run the script as a process, load its output, keep snapshots."""

from __future__ import annotations

import json
from pathlib import Path

from glue_test_helpers import FAKE_TAP, FAKE_TARGET, read_jsonl, run_cli

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
