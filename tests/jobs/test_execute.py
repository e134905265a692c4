"""Running one job with its record (jobs/execute.py): claim, end statuses, events, logs,
samples, cancel; real connectors and a real store."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from glue_test_helpers import wait_until
from workspace.secret_sweep import assert_no_secrets

from glue_runtime.jobs import lifecycle
from glue_runtime.jobs.execute import execute
from glue_runtime.jobs.joblog import read_logs, read_samples
from glue_runtime.jobs.records import get
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.outbox import outbox
from glue_runtime.workspace.tables import links
from jobs.conftest import API_KEY, JobsWorkspace


def events(ws: JobsWorkspace) -> list[tuple[str, dict[str, Any]]]:
    import json

    with ws.store.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox).order_by(outbox.c.created_at)).all()
    return [(r.type, json.loads(r.data)) for r in rows]


def failures(ws: JobsWorkspace, connector: str) -> int:
    with ws.store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(links.c.failures).where(
                    links.c.flow == "shop", links.c.tenant == "acme", links.c.connector == connector
                )
            ).scalar_one()
        )


def test_a_queued_job_runs_and_its_record_keeps_counts_state_result_and_events(jobs_ws) -> None:
    ws = jobs_ws
    queued = ws.queue("files")
    clock = iter(float(t) for t in range(1000, 2000))
    job = execute(ws.opened, queued.id, worker="w1", now=lambda: next(clock))
    assert job is not None and job.status == "succeeded", job and job.error
    assert job.worker == "w1" and job.started_at == 1000.0 and job.ended_at > job.started_at
    assert job.counts["orders"]["records_in"] == 2 and job.counts["customers"]["records_out"] == 3
    assert job.state_before == {}
    assert set(job.state_after["bookmarks"]) == {"orders", "customers"}
    assert job.state_after == DbStateStore(ws.store).get("shop/acme/files")
    assert job.exit_code == 0 and job.error is None
    assert job.result["status"] == "success" and job.result["records_out"] == 5
    assert get(ws.store, job.id).status == "succeeded"
    kinds = [(k, d["job_id"], d["status"]) for k, d in events(ws)]
    assert kinds == [("job.started", job.id, "running"), ("job.succeeded", job.id, "succeeded")]
    sources = {line.source for line in read_logs(ws.store, job.id)}
    assert "runtime" in sources and any(
        "sqlite" in s or "files" in s for s in sources - {"runtime"}
    )


def test_a_job_is_claimed_once_and_a_second_job_of_its_key_waits(any_jobs_ws) -> None:
    ws = any_jobs_ws
    first = ws.queue("files")
    winners: list[Any] = []
    barrier = threading.Barrier(4)

    def claim(worker: str) -> None:
        barrier.wait()
        winners.append(lifecycle.claim(ws.store, first.id, worker=worker, now=1.0))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [w for w in winners if w is not None]
    assert len(claimed) == 1 and claimed[0].status == "running"

    second = ws.queue("files")  # a new queued job: the first one runs
    assert second.id != first.id
    assert lifecycle.claim(ws.store, second.id, worker="w9", now=2.0) is None
    assert execute(ws.opened, second.id) is None
    assert get(ws.store, second.id).status == "queued"  # left for when the first has ended
    assert [k for k, _ in events(ws)] == ["job.started"]


def test_a_failing_tap_ends_the_job_failed_and_counts_against_the_link(jobs_ws) -> None:
    ws = jobs_ws
    job = execute(ws.opened, ws.queue("broken").id)
    assert job is not None and job.status == "failed"
    assert "source API went away" in (job.error or "") and job.exit_code not in (0, None)
    assert failures(ws, "broken") == 1
    assert [k for k, _ in events(ws)] == ["job.started", "job.failed"]
    assert events(ws)[-1][1]["error"] == job.error
    execute(ws.opened, ws.queue("broken").id)
    assert failures(ws, "broken") == 2
    assert execute(ws.opened, ws.queue("files").id).status == "succeeded"
    assert failures(ws, "files") == 0


def test_a_job_that_cannot_start_fails_with_the_named_error(jobs_ws) -> None:
    ws = jobs_ws
    job = execute(ws.opened, ws.queue("files", streams=("orders", "ordres")).id)
    assert job is not None and job.status == "failed"
    assert "unknown stream 'ordres'" in job.error and "orders" in job.error
    assert not (ws.root / "out").exists()


def test_cancelling_a_queued_job_ends_it_at_once(jobs_ws) -> None:
    ws = jobs_ws
    queued = ws.queue("files")
    cancelled = lifecycle.cancel(ws.store, queued.id, now=5.0)
    assert cancelled.status == "cancelled" and cancelled.ended_at == 5.0
    assert execute(ws.opened, queued.id) is None
    with pytest.raises(lifecycle.JobEnded, match="already ended"):
        lifecycle.cancel(ws.store, queued.id, now=6.0)


def test_cancelling_a_running_job_drains_it_and_keeps_logs_redacted_and_samples(jobs_ws) -> None:
    ws = jobs_ws
    queued = ws.queue("slow")
    done: list[Any] = []
    runner = threading.Thread(
        target=lambda: done.append(execute(ws.opened, queued.id, heartbeat_s=0.2))
    )
    runner.start()
    try:
        wait_until(lambda: read_samples(ws.store, queued.id), "a progress sample")
        running = get(ws.store, queued.id)
        assert running.status == "running" and running.heartbeat_at is not None
        asked = lifecycle.cancel(ws.store, queued.id, now=10.0)
        assert asked.status == "running" and asked.cancel_requested
    finally:
        runner.join(120)
    (job,) = done
    assert job.status == "cancelled", job.error
    assert "cancelled on request" in job.error
    samples = read_samples(ws.store, job.id)
    assert samples[-1][1]["users"] > 0
    confirmed = DbStateStore(ws.store).get("shop/acme/slow")["bookmarks"]["users"]["id"]
    assert 0 < confirmed <= job.counts["users"]["records_in"]
    assert job.state_after["bookmarks"]["users"]["id"] == confirmed
    lines = [f"{ln.source} {ln.line}" for ln in read_logs(ws.store, job.id)]
    assert any("connecting with key" in ln for ln in lines)  # the tap printed its key...
    import json

    assert_no_secrets(  # ...and the store kept none of it: logs, error, result, events
        [API_KEY],
        texts=[*lines, job.error or "", json.dumps(job.result), json.dumps(events(ws))],
    )
    assert failures(ws, "slow") == 0  # a cancel is not the link's failure


def test_the_job_log_has_info_lines_while_the_application_logs_only_warnings(jobs_ws) -> None:
    import logging

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("glue_runtime")
    app = Keep()
    old = logger.level
    logger.addHandler(app)
    logger.setLevel(logging.WARNING)
    try:
        job = execute(jobs_ws.opened, jobs_ws.queue("files").id)
    finally:
        logger.removeHandler(app)
        level_after = logger.level
        logger.setLevel(old)
    assert job is not None and job.status == "succeeded"
    assert any(ln.level == "INFO" for ln in read_logs(jobs_ws.store, job.id))
    assert [r for r in seen if r.levelno < logging.WARNING] == []
    assert level_after == logging.WARNING and app.filters == []


def test_a_job_taken_from_its_worker_stops_and_keeps_the_takers_end(jobs_ws) -> None:
    """Recovery marked the job interrupted (its heartbeat looked stale): the worker stops the
    run at its next beat and writes no end of its own."""
    from glue_runtime.jobs.tables import jobs as jobs_table

    ws = jobs_ws
    queued = ws.queue("slow")
    done: list[Any] = []
    runner = threading.Thread(
        target=lambda: done.append(execute(ws.opened, queued.id, heartbeat_s=0.2))
    )
    runner.start()
    try:
        wait_until(lambda: read_samples(ws.store, queued.id), "a progress sample")
        with ws.store.write() as conn:
            conn.execute(
                sa.update(jobs_table)
                .where(jobs_table.c.id == queued.id)
                .values(status="interrupted", ended_at=99.0, error="recovered")
            )
    finally:
        runner.join(120)
    (job,) = done
    assert (job.status, job.ended_at, job.error) == ("interrupted", 99.0, "recovered")
    assert [k for k, _ in events(ws)] == ["job.started"]
