"""The embedded executor with real child processes (the ``jobs exec`` stand-in) over a real
store: limits, order, debounce, cancel, crashes, pause, drain."""

# ruff: noqa: F401, F811  (pytest fixtures imported from conftest_exec)
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from glue_runtime.jobs.tables import jobs
from glue_runtime.workspace.outbox import outbox
from glue_runtime.workspace.tables import links
from jobs.conftest_exec import bench

PAIRS = [
    (tenant, connector)
    for tenant in ("acme", "globex", "initech")
    for connector in ("files", "other")
]


def _running_ids(bench) -> set[str]:
    with bench.ws.store.engine.connect() as conn:
        return {r.id for r in conn.execute(sa.select(jobs.c.id).where(jobs.c.status == "running"))}


def test_never_more_jobs_run_than_the_concurrency(bench):
    executor = bench.executor(concurrency=2)
    queued = [bench.queue(t, c).id for t, c in PAIRS]
    seen: list[int] = []

    def two_running():
        seen.append(bench.running_count())
        return bench.running_count() == 2

    bench.wait_for(executor, two_running)
    assert executor.poll_once() == []  # full: nothing more starts
    assert len(executor.running()) == 2
    first = sorted(_running_ids(bench))
    bench.release(first[0])

    def third_claimed():
        seen.append(bench.running_count())
        return len(bench.claims()) == 3

    bench.wait_for(executor, third_claimed)
    bench.release()

    def all_done():
        seen.append(bench.running_count())
        return all(bench.job(j).status == "succeeded" for j in queued)

    bench.wait_for(executor, all_done)
    assert max(seen) <= 2
    assert sorted(bench.claims()) == sorted(queued)


def test_a_tenant_cap_keeps_a_tenants_second_job_queued(bench):
    executor = bench.executor(concurrency=4, per_tenant=1)
    a1 = bench.queue("acme", "files").id
    a2 = bench.queue("acme", "other").id
    g1 = bench.queue("globex", "files").id
    bench.wait_for(executor, lambda: len(bench.claims()) == 2)
    assert sorted(bench.claims()) == sorted([a1, g1])
    assert executor.poll_once() == []
    assert bench.job(a2).status == "queued"
    bench.release(a1)
    bench.wait_status(executor, a2, "running")
    assert bench.job(a1).status == "succeeded"


def test_a_connector_cap_holds_across_two_executors_sharing_the_store(bench):
    one = bench.executor(concurrency=4, per_connector={"files": 1})
    two = bench.executor(concurrency=4, per_connector={"files": 1})
    a = bench.queue("acme", "files").id
    assert one.poll_once() == [a]
    bench.wait_status(one, a, "running")
    g_files = bench.queue("globex", "files").id
    g_other = bench.queue("globex", "other").id
    assert two.poll_once() == [g_other]  # files is at its cap: the other server runs it
    bench.release(a)
    bench.wait_for(None, lambda: bench.job(a).status == "succeeded")  # one looks no more
    assert two.poll_once() == [g_files]


def test_jobs_start_in_not_before_order_and_not_before_their_time(bench):
    executor = bench.executor(concurrency=1)
    later = bench.queue("acme", "files", not_before=bench.clock() + 10).id
    plain = bench.queue("globex", "files").id
    early = bench.queue("initech", "files", not_before=bench.clock() - 5).id
    assert executor.poll_once() == [early]
    bench.release(early)
    bench.release(plain)
    bench.wait_status(executor, plain, "succeeded")
    bench.wait_idle(executor)
    assert bench.claims() == [early, plain]
    assert bench.job(later).status == "queued"  # the debounced one waits for its time
    assert executor.poll_once() == []
    bench.clock.advance(10)
    assert executor.poll_once() == [later]


def test_a_queued_job_waits_while_its_link_runs_a_job(bench):
    executor = bench.executor(concurrency=4)
    first = bench.queue("acme", "files").id
    bench.wait_status(executor, first, "running")
    follow_up = bench.queue("acme", "files").id
    assert follow_up != first
    assert executor.poll_once() == []
    bench.release(first)
    bench.wait_status(executor, follow_up, "running")


def test_cancel_of_a_running_job_stops_its_child(bench):
    executor = bench.executor()
    job_id = bench.queue().id
    bench.wait_status(executor, job_id, "running")
    with bench.ws.store.write() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(cancel_requested=True))
    job = bench.wait_status(executor, job_id, "cancelled")
    assert job.ended_at is not None
    bench.wait_for(executor, lambda: executor.running() == [])


def test_a_child_that_dies_without_recording_an_end_fails_the_job(bench):
    executor = bench.executor(mode="crash")
    job_id = bench.queue().id
    job = bench.wait_status(executor, job_id, "failed")
    assert job.exit_code == 3
    assert "exited with code 3 without recording an end" in job.error
    with bench.ws.store.engine.connect() as conn:
        events = conn.execute(sa.select(outbox.c.type, outbox.c.data)).all()
        failures = conn.execute(
            sa.select(links.c.failures).where(
                links.c.tenant == "acme", links.c.connector == "files"
            )
        ).scalar_one()
    assert [e.type for e in events] == ["job.failed"]
    assert job_id in events[0].data
    assert failures == 1


def test_crashes_count_towards_pausing_the_link(bench):
    executor = bench.executor(mode="crash", pause_after_failures=1)
    job_id = bench.queue().id
    bench.wait_status(executor, job_id, "failed")
    with bench.ws.store.engine.connect() as conn:
        paused = conn.execute(
            sa.select(links.c.paused_at).where(
                links.c.tenant == "acme", links.c.connector == "files"
            )
        ).scalar_one()
        types = [r.type for r in conn.execute(sa.select(outbox.c.type))]
    assert paused is not None
    assert "link.paused" in types


def test_a_child_that_never_claims_its_job_fails_it_after_a_few_tries(bench):
    executor = bench.executor()
    executor.command = lambda job_id: [sys.executable, "-c", "raise SystemExit(4)"]
    job_id = bench.queue().id
    job = bench.wait_status(executor, job_id, "failed")
    assert "exited (code 4) before starting the job, 3 times" in job.error


def test_a_child_that_could_not_claim_a_busy_job_leaves_it_queued(bench):
    executor = bench.executor()
    tries = bench.gate / "tries"
    code = f"open({str(tries)!r}, 'a').write('x'); raise SystemExit(75)"
    executor.command = lambda job_id: [sys.executable, "-c", code]
    job_id = bench.queue().id
    bench.wait_for(executor, lambda: tries.exists() and len(tries.read_text()) >= 4)
    assert bench.job(job_id).status == "queued"


def test_a_paused_executor_starts_nothing_until_resumed(bench):
    executor = bench.executor()
    executor.pause()
    job_id = bench.queue().id
    assert executor.poll_once() == []
    assert bench.job(job_id).status == "queued"
    executor.resume()
    assert executor.poll_once() == [job_id]


def test_notify_wakes_the_executor_before_its_next_poll(bench):
    executor = bench.executor(poll_interval="10m")
    executor.start()
    bench.wait_for(None, lambda: executor.rounds >= 1)  # its first look found nothing
    job_id = bench.queue().id
    executor.notify()
    bench.wait_for(None, lambda: bench.job(job_id).status == "running", timeout=60)


def test_a_childs_exit_frees_its_slot_at_once_not_at_the_next_poll(bench):
    executor = bench.executor(concurrency=1, poll_interval="10m")
    first = bench.queue("acme").id
    second = bench.queue("globex").id
    executor.start()
    bench.wait_for(None, lambda: bench.job(first).status == "running", timeout=60)
    bench.release(first)
    bench.wait_for(None, lambda: bench.job(second).status == "running", timeout=60)


def test_stop_lets_a_running_job_finish_within_the_grace_period(bench):
    executor = bench.executor(poll_interval=0.05)
    job_id = bench.queue().id
    executor.start()
    bench.wait_for(None, lambda: bench.job(job_id).status == "running")
    stopper = threading.Thread(target=executor.stop, args=(60.0,))
    stopper.start()
    queued_later = bench.queue("globex").id
    bench.release(job_id)
    stopper.join(120)  # returns as soon as the drain ends; generous for a loaded machine
    assert not stopper.is_alive()
    assert bench.job(job_id).status == "succeeded"
    assert bench.job(queued_later).status == "queued"  # left for the next start


def test_stop_past_the_grace_period_interrupts_the_job_and_owes_it_a_rerun(bench):
    executor = bench.executor(poll_interval=0.05)
    job_id = bench.queue().id
    executor.start()
    bench.wait_for(None, lambda: bench.job(job_id).status == "running")
    executor.stop(0.2)
    job = bench.job(job_id)
    assert job.status == "interrupted"
    with bench.ws.store.engine.connect() as conn:
        rerun = conn.execute(sa.select(jobs).where(jobs.c.rerun_of == job_id)).one()
    assert (rerun.status, rerun.started_by, rerun.attempt) == ("queued", "rerun", 2)


def test_a_job_drains_when_its_server_is_killed_with_kill_9(bench):
    """The parent-death signal: a child gets SIGTERM when the executor's process dies."""
    job_id = bench.queue().id
    host = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("exec_host.py")), str(bench.ws.root)],
        env={**os.environ, **bench.ws.env, "STANDIN_GATE": str(bench.gate)},
    )
    try:
        bench.wait_for(None, lambda: bench.job(job_id).status == "running", timeout=60)
        os.kill(host.pid, signal.SIGKILL)
        host.wait()
        job = bench.wait_status(None, job_id, "interrupted", "succeeded", timeout=60)
        assert job.status == "interrupted"  # the child's own record of its drain
        assert job.error == "stopped"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


def test_a_job_id_never_reads_as_an_option_on_the_command_line():
    from glue_runtime.jobs.executor import jobs_exec_command
    from glue_runtime.jobs.records import new_job_id

    assert not any(new_job_id().startswith("-") for _ in range(2000))  # 1 in 64 did before
    command = jobs_exec_command("/ws", 5)("-legacy")  # and an old id that does stays an id
    assert command[-2:] == ["--", "-legacy"]
