"""Recovery: running jobs whose process stopped (no heartbeat for stale_after, or a dead pid on
this host) are interrupted and rerun by policy; on SQLite and PostgreSQL, clock controlled."""

# ruff: noqa: F401, F811  (pytest fixtures imported from conftest_exec)
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import sqlalchemy as sa
from workspace.conftest import store_url

from glue_runtime.jobs import recovery
from glue_runtime.jobs.settings import parse_job_settings
from glue_runtime.jobs.tables import jobs
from glue_runtime.workspace.outbox import outbox
from jobs.conftest_exec import Bench, rbench


def _running(bench: Bench, job_id: str, *, beat: float, worker: str = "elsewhere:1") -> None:
    """Make a queued job look run by some worker whose last heartbeat was at ``beat``."""
    with bench.ws.store.write() as conn:
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id)
            .values(status="running", started_at=beat, heartbeat_at=beat, worker=worker)
        )


def _reruns(bench: Bench, job_id: str) -> list:
    with bench.ws.store.engine.connect() as conn:
        return conn.execute(sa.select(jobs).where(jobs.c.rerun_of == job_id)).all()


def test_a_stale_running_job_is_interrupted_and_rerun(rbench):
    settings = parse_job_settings({"stale_after": "60s"})
    job = rbench.queue(sync_type="full", streams=("orders",))
    _running(rbench, job.id, beat=rbench.clock())
    rbench.clock.advance(59)
    assert recovery.recover(rbench.ws.store, settings, rbench.clock()).interrupted == ()
    assert rbench.job(job.id).status == "running"  # its heartbeat is recent enough
    rbench.clock.advance(2)
    done = recovery.recover(rbench.ws.store, settings, rbench.clock())
    assert done.interrupted == (job.id,)
    ended = rbench.job(job.id)
    assert ended.status == "interrupted"
    assert ended.error.startswith("the process running it stopped: no heartbeat since ")
    assert ended.ended_at == rbench.clock()
    (rerun,) = _reruns(rbench, job.id)
    assert done.reruns == (rerun.id,)
    assert (rerun.status, rerun.started_by, rerun.started_ref) == ("queued", "rerun", job.id)
    assert (rerun.attempt, rerun.sync_type, rerun.streams) == (2, "full", '["orders"]')
    with rbench.ws.store.engine.connect() as conn:
        types = [r.type for r in conn.execute(sa.select(outbox.c.type))]
    assert types == ["job.failed"]
    again = recovery.recover(rbench.ws.store, settings, rbench.clock() + 600)
    assert again == recovery.Recovered()  # owed once: the rerun covers it


def test_no_rerun_past_max_attempts_or_when_the_policy_is_off(rbench):
    clock = rbench.clock
    last = rbench.queue(attempt=3)
    _running(rbench, last.id, beat=clock() - 120)
    recovery.recover(rbench.ws.store, parse_job_settings({"max_attempts": 3}), clock())
    assert rbench.job(last.id).status == "interrupted"
    assert _reruns(rbench, last.id) == []
    other = rbench.queue("globex")
    _running(rbench, other.id, beat=clock() - 120)
    off = parse_job_settings({"rerun_interrupted": False})
    recovery.recover(rbench.ws.store, off, clock())
    assert rbench.job(other.id).status == "interrupted"
    assert _reruns(rbench, other.id) == []


def test_a_rerun_folds_into_a_job_already_queued_for_the_link(rbench):
    settings = parse_job_settings({})
    job = rbench.queue()
    _running(rbench, job.id, beat=rbench.clock() - 120)
    queued = rbench.queue()  # a follow-up queued while it ran
    done = recovery.recover(rbench.ws.store, settings, rbench.clock())
    assert done.interrupted == (job.id,)
    assert done.reruns == ()  # the queued follow-up resumes from the same state
    assert rbench.job(queued.id).status == "queued"
    assert rbench.job(queued.id).folded == 0


def test_a_job_interrupted_by_its_own_drain_is_rerun_when_an_executor_starts(rbench):
    job = rbench.queue("globex")
    _running(rbench, job.id, beat=rbench.clock())
    with rbench.ws.store.write() as conn:  # as a child that drained on SIGTERM records it
        conn.execute(
            sa.update(jobs).where(jobs.c.id == job.id).values(status="interrupted", ended_at=1.0)
        )
    executor = rbench.executor()
    executor.pause()
    executor.poll_once()
    (rerun,) = _reruns(rbench, job.id)
    assert (rerun.status, rerun.attempt) == ("queued", 2)


def test_a_job_started_in_a_terminal_is_not_rerun(rbench):
    job = rbench.queue(started_by="cli")
    _running(rbench, job.id, beat=rbench.clock() - 120)
    recovery.recover(rbench.ws.store, parse_job_settings({}), rbench.clock())
    assert rbench.job(job.id).status == "interrupted"
    assert _reruns(rbench, job.id) == []


def test_at_start_a_job_of_this_host_whose_process_is_gone_is_interrupted_at_once(rbench):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()
        gone = rbench.queue("acme")
        live = rbench.queue("globex")
        _running(rbench, gone.id, beat=rbench.clock(), worker=f"{host}:{dead.pid}")
        _running(rbench, live.id, beat=rbench.clock(), worker=f"{host}:{alive.pid}")
        executor = rbench.executor()
        executor.pause()
        executor.poll_once()  # the first round recovers what a previous run left
        assert rbench.job(gone.id).status == "interrupted"
        assert "is gone" in rbench.job(gone.id).error
        assert rbench.job(live.id).status == "running"
        assert len(_reruns(rbench, gone.id)) == 1
    finally:
        alive.kill()
        alive.wait()


def test_recovery_runs_again_every_half_stale_after(rbench):
    executor = rbench.executor(stale_after="60s")
    executor.pause()
    executor.poll_once()
    job = rbench.queue()
    _running(rbench, job.id, beat=rbench.clock() - 120)
    rbench.clock.advance(29)
    executor.poll_once()
    assert rbench.job(job.id).status == "running"  # not due yet
    rbench.clock.advance(1)
    executor.poll_once()
    assert rbench.job(job.id).status == "interrupted"


def test_worker_values_name_a_pid_only_on_this_host():
    host = socket.gethostname()
    assert recovery.worker_pid(f"{host}:{os.getpid()}", host) == os.getpid()
    assert recovery.worker_pid("otherhost:12", host) is None
    assert recovery.worker_pid(None, host) is None
    assert recovery.pid_alive(os.getpid())


def _hold_lease(bench: Bench, key: str, pid: int, expires_at: float) -> None:
    from glue_runtime.workspace.tables import leases

    with bench.ws.store.write() as conn:
        conn.execute(sa.delete(leases).where(leases.c.key == key))
        conn.execute(
            sa.insert(leases).values(
                key=key,
                owner=f"{socket.gethostname()}:{pid}:abcd",
                token=7,
                expires_at=expires_at,
                host=socket.gethostname(),
                pid=pid,
            )
        )


def _lease_owner(bench: Bench, key: str):
    from glue_runtime.workspace.tables import leases

    with bench.ws.store.engine.connect() as conn:
        return conn.execute(sa.select(leases.c.owner).where(leases.c.key == key)).scalar()


def test_the_state_lease_of_a_dead_job_process_is_freed_for_its_rerun(rbench):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = rbench.queue()
    _running(rbench, job.id, beat=rbench.clock(), worker=f"{socket.gethostname()}:{dead.pid}")
    _hold_lease(rbench, job.key, dead.pid, expires_at=rbench.clock() + 30)
    done = recovery.recover(rbench.ws.store, parse_job_settings({}), rbench.clock(), at_start=True)
    assert done.interrupted == (job.id,)
    assert _lease_owner(rbench, job.key) is None
    (rerun,) = _reruns(rbench, job.id)
    assert rerun.not_before == rbench.clock()  # runs at once: nothing holds its state


def test_a_rerun_waits_for_a_lease_another_host_still_holds(rbench):
    job = rbench.queue()
    _running(rbench, job.id, beat=rbench.clock() - 120, worker="elsewhere:12")
    _hold_lease(rbench, job.key, 12, expires_at=rbench.clock() + 20)
    recovery.recover(rbench.ws.store, parse_job_settings({}), rbench.clock())
    assert _lease_owner(rbench, job.key) is not None  # not ours to free: it may be alive
    (rerun,) = _reruns(rbench, job.id)
    assert rerun.not_before == rbench.clock() + 20.5


def test_the_executor_deletes_jobs_past_the_retention_at_start_and_hourly(rbench):
    old = rbench.queue("acme")
    recent = rbench.queue("globex")
    with rbench.ws.store.write() as conn:
        for job_id, age in ((old.id, 8 * 86400), (recent.id, 6 * 86400)):
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id)
                .values(status="succeeded", ended_at=rbench.clock() - age)
            )
    executor = rbench.executor(retention="7d")
    executor.pause()
    executor.poll_once()
    with rbench.ws.store.engine.connect() as conn:
        left = set(conn.execute(sa.select(jobs.c.id)).scalars())
    assert left == {recent.id}
    rbench.clock.advance(86400 + 3600)
    executor.poll_once()
    with rbench.ws.store.engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.id)).scalars().all() == []
