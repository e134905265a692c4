"""`glue jobs work` end to end: real worker process, real `glue jobs exec` children, a real slow
tap into a target that confirms each STATE once written, the store on SQLite. The worker (and its child) killed with kill -9
mid-job, then restarted: the interrupted job is recorded and rerun, queued jobs run, and the
state never holds a bookmark past what the target confirmed. SIGTERM drains within the grace
period (the job finishes) and past it (the job is interrupted and resumes later)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from glue_test_helpers import FAKE_TAP, FAKE_TARGET

from glue_runtime.jobs.lifecycle import cancel
from glue_runtime.jobs.model import Job, JobRequest
from glue_runtime.jobs.records import enqueue, get, list_jobs
from glue_runtime.jobs.recovery import worker_pid
from glue_runtime.jobs.tables import jobs
from glue_runtime.workspace.crypto import Keyring, new_key
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.store import Store, sqlite_url

pytestmark = pytest.mark.slow

RECORDS = 80
GLUE_YML = f"""
name: exec-e2e
jobs:
  concurrency: 1
  heartbeat: 0.5s
  stale_after: 5s
  poll_interval: 0.2s
flows:
  slow:
    sources:
      ticker:
        connector: {FAKE_TAP}
        config: {{streams: [ticks], records: {RECORDS}, sleep: 0.1, state_every: 5}}
    targets:
      out:
        connector: {FAKE_TARGET}
        config: {{output: "%(out)s/{{tenant}}.jsonl"}}
"""


@dataclass
class E2E:
    root: Path
    store: Store
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]]

    def queue(self, tenant: str) -> Job:
        job, _new = enqueue(self.store, JobRequest("slow", tenant, "ticker", started_by="api"))
        return job

    def work(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"worker-{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "glue_runtime", "jobs", "work", *args],
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def job(self, job_id: str) -> Job:
        return get(self.store, job_id)

    def bookmark(self, tenant: str) -> int:
        state = DbStateStore(self.store).get(f"slow/{tenant}/ticker")
        return int(state.get("bookmarks", {}).get("ticks", {}).get("id", 0))

    def landed(self, tenant: str) -> list[int]:
        """The ids the target wrote (it confirms each STATE once the rows before it are
        written and fsynced, so the state never runs ahead of this file)."""
        path = self.root / "out" / f"{tenant}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["id"] for line in path.read_text().splitlines() if line]


def wait(check: Callable[[], Any], timeout: float = 90.0, what: str = "") -> Any:
    """Poll until ``check()`` is truthy (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


@pytest.fixture
def e2e(tmp_path: Path) -> Iterator[E2E]:
    root = tmp_path / "ws"
    (root / ".glue").mkdir(parents=True)
    (root / "out").mkdir()
    (root / "glue.yml").write_text(GLUE_YML % {"out": root / "out"})
    key = new_key()
    store = Store(sqlite_url(str(root / ".glue" / "store.db")), Keyring.from_texts([key], "t"))
    store.create()
    for tenant in ("acme", "globex"):
        store.add_tenant(tenant)
        store.save_link(
            flow="slow",
            tenant=tenant,
            connector="ticker",
            direction="read",
            auth="none",
            settings={},
            secrets=None,
        )
    env = {
        **os.environ,
        "GLUE_SECRET_KEY": key,
        "GLUE_WORKSPACE": str(root),
        "PYTHONUNBUFFERED": "1",
    }
    made = E2E(root, store, env, [])
    yield made
    for proc in made.workers:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store.close()


def _child_pid(job: Job) -> int:
    import socket

    pid = worker_pid(job.worker, socket.gethostname())
    assert pid is not None, job.worker
    return pid


def _reruns(e2e: E2E, job_id: str) -> list[Job]:
    return [j for j in list_jobs(e2e.store, tenant="acme") if j.rerun_of == job_id]


def _mid_job(e2e: E2E, job_id: str) -> Job:
    """Wait until the job runs and has committed a few bookmarks, not all."""
    wait(lambda: e2e.bookmark("acme") >= 10, what="a few confirmed bookmarks")
    job = e2e.job(job_id)
    assert job.status == "running"
    return job


def _state_within_target(e2e: E2E, tenant: str) -> None:
    """The state's bookmark is never past the rows the target holds."""
    landed = e2e.landed(tenant)
    bookmark = e2e.bookmark(tenant)
    assert bookmark <= (max(landed) if landed else 0)
    assert set(range(1, bookmark + 1)) <= set(landed)  # nothing confirmed is missing


def _all_landed(e2e: E2E, tenant: str, resumed_from: int = 0) -> None:
    """Every record landed once, none missing: the tap (which sends RECORDS records after its
    bookmark) resumed from ``resumed_from``; the state ends at the last one."""
    assert sorted(set(e2e.landed(tenant))) == list(range(1, resumed_from + RECORDS + 1))
    assert e2e.bookmark(tenant) == resumed_from + RECORDS


def test_kill_9_of_the_worker_and_its_job_then_restart(e2e):
    job = e2e.queue("acme")
    worker = e2e.work()
    running = _mid_job(e2e, job.id)
    queued = e2e.queue("globex")  # waits: concurrency 1
    child = _child_pid(running)
    os.kill(worker.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    worker.wait()
    wait(lambda: not os.path.exists(f"/proc/{child}"), what="the job's process to go")
    _state_within_target(e2e, "acme")
    stopped_at = e2e.bookmark("acme")
    assert e2e.job(job.id).status == "running"  # nobody recorded its end

    e2e.work()
    ended = wait(lambda: (j := e2e.job(job.id)).status != "running" and j, what="recovery")
    assert ended.status == "interrupted"
    assert "is gone" in ended.error
    (rerun,) = wait(lambda: _reruns(e2e, job.id), what="the rerun")
    assert (rerun.started_by, rerun.attempt) == ("rerun", 2)
    wait(lambda: e2e.job(rerun.id).status == "succeeded", what="the rerun")
    wait(lambda: e2e.job(queued.id).status == "succeeded", what="the queued job")
    assert e2e.job(rerun.id).state_before == {"bookmarks": {"ticks": {"id": stopped_at}}}
    _all_landed(e2e, "acme", stopped_at)
    _all_landed(e2e, "globex")


def test_kill_9_of_the_worker_drains_its_job_which_is_rerun_on_restart(e2e):
    job = e2e.queue("acme")
    worker = e2e.work()
    running = _mid_job(e2e, job.id)
    child = _child_pid(running)
    os.kill(worker.pid, signal.SIGKILL)  # its child gets SIGTERM (parent-death signal)
    worker.wait()
    ended = wait(lambda: (j := e2e.job(job.id)).status != "running" and j, what="the drain")
    assert ended.status == "interrupted"  # the child drained and recorded it itself
    wait(lambda: not os.path.exists(f"/proc/{child}"), what="the job's process to exit")
    _state_within_target(e2e, "acme")
    stopped_at = e2e.bookmark("acme")
    assert 0 < stopped_at < RECORDS  # stopped mid-job

    e2e.work()
    (rerun,) = wait(lambda: _reruns(e2e, job.id), what="the rerun")
    wait(lambda: e2e.job(rerun.id).status == "succeeded", what="the rerun to succeed")
    _all_landed(e2e, "acme", stopped_at)


def test_sigterm_lets_the_job_finish_within_the_grace_period(e2e):
    job = e2e.queue("acme")
    worker = e2e.work("--grace", "120")
    _mid_job(e2e, job.id)
    queued = e2e.queue("globex")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(120) == 0
    assert e2e.job(job.id).status == "succeeded"
    _all_landed(e2e, "acme")
    assert e2e.job(queued.id).status == "queued"  # kept for the next start


def test_sigterm_past_the_grace_period_interrupts_the_job_which_resumes(e2e):
    job = e2e.queue("acme")
    worker = e2e.work("--grace", "0.5")
    _mid_job(e2e, job.id)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(120) == 0
    ended = e2e.job(job.id)
    assert ended.status == "interrupted"
    _state_within_target(e2e, "acme")
    stopped_at = e2e.bookmark("acme")
    assert 0 < stopped_at < RECORDS
    with e2e.store.engine.connect() as conn:
        rerun = conn.execute(sa.select(jobs).where(jobs.c.rerun_of == job.id)).one()
    assert rerun.status == "queued"
    e2e.work()
    wait(lambda: e2e.job(rerun.id).status == "succeeded", what="the rerun")
    _all_landed(e2e, "acme", stopped_at)


def test_a_cancel_stops_the_job_the_worker_runs_and_the_worker_goes_on(e2e):
    job = e2e.queue("acme")
    worker = e2e.work()
    _mid_job(e2e, job.id)
    cancel(e2e.store, job.id, now=time.time())  # what `glue jobs cancel` and the API call
    ended = wait(lambda: (j := e2e.job(job.id)).ended and j, what="the cancel")
    assert ended.status == "cancelled"
    _state_within_target(e2e, "acme")
    assert _reruns(e2e, job.id) == []
    after = e2e.queue("globex")
    wait(lambda: e2e.job(after.id).status == "succeeded", what="the next job")
    assert worker.poll() is None
