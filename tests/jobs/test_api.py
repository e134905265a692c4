"""The jobs from Python (glue_runtime.jobs, and its names on glue_runtime), retention and
tenant removal."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

import glue_runtime
from glue_runtime import jobs
from glue_runtime.errors import ConfigError
from glue_runtime.jobs import lifecycle
from glue_runtime.jobs.retention import purge
from glue_runtime.jobs.tables import job_logs, job_samples
from glue_runtime.workspace.tables import links


def count(ws, table: sa.Table, job_id: str) -> int:
    with ws.store.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).where(table.c.job_id == job_id)).scalar_one()
        )


def test_start_queues_one_job_per_linked_source_and_folds_a_second_start(jobs_ws) -> None:
    ws = jobs_ws
    queued = jobs.start("shop", "acme", workspace=ws.root)
    assert [j.connector for j in queued] == ["files", "slow", "broken", "dated"]
    assert {j.status for j in queued} == {"queued"} and {j.started_by for j in queued} == {"python"}
    again = jobs.start("shop", "acme", "files", workspace=ws.opened, streams=["orders"])
    assert [j.id for j in again] == [queued[0].id] and again[0].folded == 1
    assert len(jobs.list_jobs(workspace=ws.root, tenant="acme", status="queued")) == 4


def test_a_paused_link_is_skipped_unless_named(jobs_ws) -> None:
    ws = jobs_ws
    with ws.store.write() as conn:
        conn.execute(
            sa.update(links)
            .where(links.c.connector == "slow")
            .values(paused_at=1.0, paused_reason="by hand")
        )
    assert "slow" not in [j.connector for j in jobs.start("shop", "acme", workspace=ws.opened)]
    with pytest.raises(jobs.LinkPaused, match="paused"):
        jobs.start("shop", "acme", "slow", workspace=ws.opened)


def test_run_get_logs_cancel_and_rerun(jobs_ws) -> None:
    ws = jobs_ws
    (job,) = jobs.run("shop", "globex", workspace=ws.opened)
    assert job.status == "succeeded" and job.connector == "files"
    assert jobs.get(job.id, workspace=ws.opened).counts == job.counts
    assert [j.id for j in jobs.list_jobs(workspace=ws.opened, tenant="globex")] == [job.id]
    lines = jobs.logs(job.id, workspace=ws.opened)
    assert lines and jobs.logs(job.id, after=lines[-1].id, workspace=ws.opened) == []
    with pytest.raises(ConfigError, match="no job"):
        jobs.get(job.id, workspace=ws.opened, tenant="acme")  # another tenant's: no job

    (queued,) = jobs.start("shop", "acme", "files", workspace=ws.opened)
    with pytest.raises(ConfigError, match="still queued"):
        jobs.rerun(queued.id, workspace=ws.opened)
    assert jobs.cancel(queued.id, workspace=ws.opened).status == "cancelled"
    again = jobs.rerun(queued.id, workspace=ws.opened)
    assert (again.rerun_of, again.status, again.started_by) == (queued.id, "queued", "rerun")


def test_run_refuses_a_key_that_runs_elsewhere(jobs_ws) -> None:
    ws = jobs_ws
    (other,) = jobs.start("shop", "acme", "files", workspace=ws.opened)
    lifecycle.claim(ws.store, other.id, worker="elsewhere:9", now=1.0)
    with pytest.raises(jobs.JobBusy, match=f"already running as job {other.id}"):
        jobs.run("shop", "acme", "files", workspace=ws.opened)
    assert jobs.list_jobs(workspace=ws.opened, status="queued") == []  # nothing queued either


def test_glue_runtime_exports_the_jobs_api() -> None:
    assert glue_runtime.run_job is jobs.run and glue_runtime.get_job is jobs.get
    assert glue_runtime.start_job is jobs.start and glue_runtime.Job is jobs.Job
    assert {"run_job", "start_job", "list_jobs", "job_logs"} <= set(glue_runtime.__all__)


def test_purge_keeps_young_and_active_jobs(jobs_ws) -> None:
    ws = jobs_ws
    (done,) = jobs.run("shop", "globex", workspace=ws.opened)
    (waiting,) = jobs.start("shop", "acme", "files", workspace=ws.opened)
    assert purge(ws.store, 3600)["jobs"] == 0
    removed = purge(ws.store, 3600, now=time.time() + 7200)
    assert removed["jobs"] == 1 and removed["job_logs"] > 0
    assert [j.id for j in jobs.list_jobs(workspace=ws.opened)] == [waiting.id]
    assert count(ws, job_logs, done.id) == 0


def test_removing_a_tenant_removes_its_jobs_logs_and_samples(jobs_ws) -> None:
    ws = jobs_ws
    (gone,) = jobs.run("shop", "globex", workspace=ws.opened)
    (kept,) = jobs.run("shop", "acme", "files", workspace=ws.opened)
    with ws.store.write() as conn:
        conn.execute(sa.insert(job_samples).values(job_id=gone.id, at=1.0, counts="{}"))
    assert count(ws, job_logs, gone.id) > 0
    removed = ws.store.remove_tenant("globex")
    assert removed["jobs"] == 1 and removed["job_logs"] > 0 and removed["job_samples"] == 1
    assert count(ws, job_logs, gone.id) == 0 and count(ws, job_samples, gone.id) == 0
    assert [j.id for j in jobs.list_jobs(workspace=ws.opened)] == [kept.id]
    assert count(ws, job_logs, kept.id) > 0
