"""`glue run` recording jobs, and `glue jobs ...` (list, show, logs --follow, cancel, rerun,
exec, purge), each as a real process over a real workspace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa
from glue_test_helpers import wait_until

from glue_runtime.errors import TapFailed
from glue_runtime.jobs import lifecycle
from glue_runtime.jobs.joblog import read_logs
from glue_runtime.jobs.records import get, list_jobs
from glue_runtime.workspace.tables import links
from jobs.conftest import JobsWorkspace


def spawn(ws: JobsWorkspace, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", *args],
        cwd=ws.root,
        env={**os.environ, **ws.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_glue_run_records_a_job_and_the_jobs_commands_read_it(jobs_ws) -> None:
    ws = jobs_ws
    got = ws.glue("run", "shop", "--tenant", "acme", "--connector", "files")
    assert got.code == 0, got.stderr[-3000:]
    (job,) = list_jobs(ws.store)
    assert job.status == "succeeded" and job.started_by == "cli"
    assert (
        "shop/acme/files: SUCCESS, 5 records in" in got.stderr and f"(job {job.id})" in got.stderr
    )

    listed = ws.glue("jobs", "list")
    assert listed.code == 0, listed.stderr
    head, row = listed.stdout.splitlines()
    assert head.split()[:3] == ["ID", "FLOW/TENANT/CONNECTOR", "STATUS"]
    assert row.split()[:4] == [job.id, "shop/acme/files", "succeeded", "cli"]
    assert row.split()[-2:] == ["5", "5"]
    as_json = json.loads(
        ws.glue("jobs", "list", "--status", "succeeded", "--since", "1h", "--json").stdout
    )
    assert [j["id"] for j in as_json] == [job.id]
    assert json.loads(ws.glue("jobs", "list", "--status", "failed", "--json").stdout) == []

    shown = ws.glue("jobs", "show", job.id)
    assert shown.code == 0, shown.stderr
    assert f"job {job.id}: succeeded" in shown.stdout and "customers" in shown.stdout
    assert "state after:" in shown.stdout and "2024-01-03" in shown.stdout
    detail = json.loads(ws.glue("jobs", "show", job.id, "--json").stdout)
    assert (
        detail["counts"]["orders"]["records_out"] == 2 and detail["result"]["status"] == "success"
    )

    logs = ws.glue("jobs", "logs", job.id)
    assert logs.code == 0 and "[runtime]" in logs.stdout and "target-sqlite" in logs.stdout

    ended = ws.glue("jobs", "cancel", job.id)
    assert ended.code == 2 and "already ended (succeeded)" in ended.stderr

    again = ws.glue("jobs", "rerun", job.id, "--here")
    assert again.code == 0, again.stderr[-3000:]
    rerun = list_jobs(ws.store)[0]
    assert rerun.rerun_of == job.id and rerun.status == "succeeded" and rerun.attempt == 2
    assert f"job {rerun.id}: succeeded" in again.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("jobs", "show", "nope"),
        ("jobs", "logs", "nope"),
        ("jobs", "cancel", "nope"),
        ("jobs", "rerun", "nope"),
    ],
)
def test_an_unknown_job_id_is_a_named_error(jobs_ws, args: tuple[str, ...]) -> None:
    got = jobs_ws.glue(*args)
    assert got.code == 2 and "no job 'nope'" in got.stderr and "glue jobs list" in got.stderr


def test_glue_run_options_choose_the_sync_type_streams_and_start_date(jobs_ws) -> None:
    ws = jobs_ws
    got = ws.glue(
        "run",
        "shop",
        "--tenant",
        "acme",
        "--connector",
        "files",
        "--sync-type",
        "reset",
        "--streams",
        "customers",
        "--json",
    )
    assert got.code == 0, got.stderr[-3000:]
    (job,) = list_jobs(ws.store)
    assert (job.sync_type, job.streams) == ("reset", ["customers"])
    (result,) = json.loads(got.stdout)
    assert result["job_id"] == job.id and set(result["streams"]) == {"customers"}
    bad = ws.glue("run", "shop", "--tenant", "acme", "--start-date", "yesterday")
    assert bad.code == 2 and "--start-date 'yesterday' is not an ISO date" in bad.stderr
    assert len(list_jobs(ws.store)) == 1


def test_glue_run_refuses_a_key_that_is_running_elsewhere(jobs_ws) -> None:
    ws = jobs_ws
    other = ws.queue("files")
    assert lifecycle.claim(ws.store, other.id, worker="elsewhere:1", now=1.0) is not None
    got = ws.glue("run", "shop", "--tenant", "acme", "--connector", "files")
    assert got.code != 0
    assert (
        f"shop/acme/files is already running as job {other.id} (worker elsewhere:1)" in got.stderr
    )
    assert [j.id for j in list_jobs(ws.store)] == [other.id]  # nothing queued behind it

    with ws.store.write() as conn:  # a paused link: an error for it, the others still run
        conn.execute(sa.update(links).where(links.c.tenant == "globex").values(paused_at=1.0))
    both = ws.glue("run", "shop", "--all-tenants", "--connector", "files")
    assert both.code == 2 and "the link shop/globex/files is paused" in both.stderr
    assert "shop/acme/files is already running" in both.stderr


def test_jobs_exec_runs_a_queued_job_once(jobs_ws) -> None:
    ws = jobs_ws
    job = ws.queue("broken")
    got = ws.glue("jobs", "exec", job.id)
    assert got.code == TapFailed.exit_code, got.stderr  # the job's: its tap failed
    assert get(ws.store, job.id).status == "failed"
    again = ws.glue("jobs", "exec", job.id)
    assert again.code == 75 and "was not claimed: it is failed" in again.stderr


@pytest.mark.slow
def test_cancel_and_sigterm_stop_a_running_jobs_exec_and_follow_sees_the_end(jobs_ws) -> None:
    ws = jobs_ws
    job = ws.queue("slow")
    runner = spawn(ws, "jobs", "exec", job.id, "--heartbeat", "0.2")
    follower = None
    try:
        wait_until(
            lambda: any("users" in ln.line for ln in read_logs(ws.store, job.id)),
            "the job's first log lines",
            timeout=180,
        )
        follower = spawn(ws, "jobs", "logs", job.id, "--follow", "--interval", "0.2")
        cancelled = ws.glue("jobs", "cancel", job.id)
        assert cancelled.code == 0 and "cancel requested" in cancelled.stdout
        assert runner.wait(120) == 130
        out, err = follower.communicate(timeout=120)
    finally:
        runner.kill()
        if follower is not None:
            follower.kill()
    assert follower.returncode == 0
    assert "cancel requested: stopping" in out and f"job {job.id}: cancelled" in err
    assert get(ws.store, job.id).status == "cancelled"

    second = ws.queue("slow")
    runner = spawn(ws, "jobs", "exec", second.id)
    try:
        wait_until(  # the tap's stream has started: its connectors run
            lambda: any("users" in ln.line for ln in read_logs(ws.store, second.id)),
            "the job's connectors to run",
            timeout=180,  # a loaded machine starts three processes slowly
        )
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(120) == 130
    finally:
        runner.kill()
    interrupted = get(ws.store, second.id)
    assert interrupted.status == "interrupted" and "SIGTERM" in interrupted.error


def test_purge_removes_old_ended_jobs_with_their_logs(jobs_ws) -> None:
    ws = jobs_ws
    old = ws.queue("broken")
    assert ws.glue("jobs", "exec", old.id).code != 0
    assert read_logs(ws.store, old.id)
    waiting = ws.queue("files")
    got = ws.glue("jobs", "purge", "--older-than", "0s")
    assert got.code == 0 and "purged 1 job(s)" in got.stdout
    assert [j.id for j in list_jobs(ws.store)] == [waiting.id]  # queued jobs stay
    assert read_logs(ws.store, old.id) == []
    kept = ws.glue("jobs", "purge")  # the default retention, 30 days: nothing that young goes
    assert kept.code == 0 and "purged 0 job(s) ended over 30 day(s) ago" in kept.stdout
    with (ws.root / "glue.yml").open("a") as fh:
        fh.write("jobs:\n  retention: 0\n")
    forever = ws.glue("jobs", "purge")
    assert forever.code == 0 and "kept forever; nothing purged" in forever.stdout
    bad = ws.glue("jobs", "purge", "--older-than", "soon")
    assert bad.code == 2 and "--older-than 'soon' is not a duration" in bad.stderr
