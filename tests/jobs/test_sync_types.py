"""Sync types (incremental, full, reset), chosen streams and a start date override, through
real jobs: the bundled files tap into the sqlite target, state in the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from glue_runtime.jobs.execute import execute
from glue_runtime.workspace.dbstate import DbStateStore
from jobs.conftest import JobsWorkspace

KEY = "shop/acme/files"
FAR = "2030-01-01T00:00:00+00:00"


def bookmark(state: dict[str, Any], stream: str) -> Any:
    return state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def far_state(ws: JobsWorkspace) -> DbStateStore:
    """Both streams bookmarked past every row: an incremental run reads nothing."""
    states = DbStateStore(ws.store)
    marks = {
        s: {"replication_key": "updated_at", "replication_key_value": FAR}
        for s in ("orders", "customers")
    }
    states.set(KEY, {"bookmarks": marks})
    return states


def run(ws: JobsWorkspace, connector: str = "files", **kw: Any):
    job = execute(ws.opened, ws.queue(connector, **kw).id)
    assert job is not None
    return job


def rows(db: Path, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f'SELECT * FROM "{table}" ORDER BY id')]


def test_incremental_reads_from_the_bookmarks(jobs_ws) -> None:
    far_state(jobs_ws)
    job = run(jobs_ws)
    assert job.status == "succeeded", job.error
    assert all(c["records_in"] == 0 for c in job.counts.values())


def test_full_of_one_stream_rereads_it_and_keeps_the_other_streams_bookmarks(jobs_ws) -> None:
    states = far_state(jobs_ws)
    job = run(jobs_ws, sync_type="full", streams=("orders",))
    assert job.status == "succeeded", job.error
    assert set(job.counts) == {"orders"} and job.counts["orders"]["records_in"] == 2
    after = states.get(KEY)
    assert bookmark(after, "orders").startswith("2024-01-02")  # replaced by this run's
    assert bookmark(after, "customers") == FAR  # kept
    assert bookmark(job.state_before, "orders") == FAR


def test_full_of_every_stream_rereads_them_all(jobs_ws) -> None:
    states = far_state(jobs_ws)
    job = run(jobs_ws, sync_type="full")
    assert job.status == "succeeded", job.error
    assert {n: c["records_in"] for n, c in job.counts.items()} == {"orders": 2, "customers": 3}
    assert bookmark(states.get(KEY), "customers").startswith("2024-01-03")


def test_reset_clears_the_chosen_streams_state_first_and_keeps_the_others(jobs_ws) -> None:
    states = far_state(jobs_ws)
    job = run(jobs_ws, sync_type="reset", streams=("customers",))
    assert job.status == "succeeded", job.error
    assert set(job.counts) == {"customers"} and job.counts["customers"]["records_in"] == 3
    after = states.get(KEY)
    assert bookmark(after, "customers").startswith("2024-01-03")
    assert bookmark(after, "orders") == FAR
    assert bookmark(job.state_before, "customers") == FAR


def test_reset_without_streams_clears_the_whole_state(jobs_ws) -> None:
    far_state(jobs_ws)
    job = run(jobs_ws, sync_type="reset")
    assert job.status == "succeeded", job.error
    assert {n: c["records_in"] for n, c in job.counts.items()} == {"orders": 2, "customers": 3}


def test_chosen_streams_limit_the_run(jobs_ws) -> None:
    job = run(jobs_ws, streams=("customers",))
    assert job.status == "succeeded", job.error
    assert set(job.counts) == {"customers"}
    assert len(rows(jobs_ws.root / "out" / "acme-files.db", "customers")) == 3
    assert set(DbStateStore(jobs_ws.store).get(KEY)["bookmarks"]) == {"customers"}


def test_a_start_date_override_reaches_the_tap_for_that_job_only(jobs_ws) -> None:
    ws = jobs_ws
    first = run(ws, "dated", start_date="2025-05-01")
    assert first.status == "succeeded", first.error
    assert first.start_date == "2025-05-01"
    db = ws.root / "out" / "acme-dated.db"
    assert rows(db, "dates")[0]["start_date"] == "2025-05-01"
    assert "start_date" not in ws.store.link("shop", "acme", "dated").settings
    second = run(ws, "dated")
    assert second.status == "succeeded", second.error
    assert rows(db, "dates")[0]["start_date"] is None  # not saved anywhere


def test_chosen_streams_narrow_a_field_maps_selection(jobs_ws) -> None:
    ws = jobs_ws
    job = run(ws, flow="mapped", streams=("orders",))
    assert job.status == "succeeded", job.error
    assert set(job.counts) == {"orders"}
    assert set(rows(ws.root / "out" / "mapped-acme.db", "orders")[0]) == {"id", "updated_at"}
    left_out = run(ws, flow="mapped", streams=("customers",))
    assert left_out.status == "failed"
    assert (
        "stream 'customers' is not selected by the field map of mapped/acme/files" in left_out.error
    )
