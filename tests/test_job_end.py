"""How a job ends when a connector exits, fails, lingers or is signalled: the job's error names
the connector at fault, a tap's leftover processes neither hang nor fail the job, and a failed
or interrupted job releases its lock and removes its temporary folders.

Real processes throughout (tests/scripted_run.py): the scripted tap runs a list of steps, the
scripted target captures its input and confirms the STATEs it is told to.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from glue_test_helpers import (
    FAKE_TARGET,
    WAIT_S,
    LineWatcher,
    read_jsonl,
    run_cli,
    wait_until,
    write_json,
)
from scripted_run import (
    REVIEW_TAP,
    cli_argv,
    committed,
    emit,
    lock_is_free,
    never,
    rec,
    run_api,
    schema,
    state,
)

import glue_runtime
from glue_runtime.errors import TapFailed, TargetFailed


def test_target_exiting_0_without_reading_fails_the_job(tmp_path: Path):
    steps = [*emit(schema(), *(rec(i) for i in range(5)), state(s=5)), never(tmp_path)]
    result = run_api(tmp_path, steps, [{"exit_after_lines": 0, "exit_code": 0}])
    assert not result.ok
    assert isinstance(result.error, TargetFailed)


def test_target_exiting_0_early_while_the_tap_sends_much_fails_the_job(tmp_path: Path):
    big = "y" * 800_000
    steps = emit(schema(), *(rec(i, pad=big) for i in range(4)), state(s=4))
    result = run_api(tmp_path, steps, [{"exit_after_lines": 1, "exit_code": 0}])
    assert isinstance(result.error, TargetFailed)
    assert "stopped reading its input" in str(result.error)
    assert result.exit_code == 3
    assert committed(tmp_path) is None


def test_a_target_that_exits_0_while_the_tap_still_runs_fails_the_job(tmp_path: Path):
    # Everything is flushed to the target's pipe before it exits, so no write fails; the tap
    # runs until the job stops it.
    steps = [*emit(schema(), rec(1), state(s=1)), never(tmp_path)]
    result = run_api(tmp_path, steps, [{"exit_after_lines": 1, "exit_code": 0}])
    assert isinstance(result.error, TargetFailed)
    assert "exited with code 0 before the end" in str(result.error)
    assert result.state == {}


def test_the_target_that_stopped_reading_is_the_one_named(tmp_path: Path):
    big = "y" * 800_000
    steps = emit(schema(), *(rec(i, pad=big) for i in range(4)), state(s=4))
    result = run_api(
        tmp_path,
        steps,
        [
            {"output": str(tmp_path / "t0.jsonl")},
            {"exit_after_lines": 1, "exit_code": 0},  # reads one line, then exits 0
        ],
    )
    assert isinstance(result.error, TargetFailed)
    assert "[1]" in str(result.error) and "[0]" not in str(result.error)


def test_tap_failure_is_reported_when_a_target_then_fails_too(tmp_path: Path):
    steps = [*emit(schema(), rec(1), state(s=1)), ["err", "source API went away"], ["exit", 1]]
    result = run_api(tmp_path, steps, [{"output": str(tmp_path / "o.jsonl"), "eof_exit_code": 1}])
    assert isinstance(result.error, TapFailed)
    assert "source API went away" in str(result.error)


def test_a_dead_tap_with_a_child_holding_its_stdout_ends_the_job(tmp_path: Path):
    # The child would hold the tap's stdout for ten minutes: the job must end long before.
    pidfile = tmp_path / "sleeper.pid"
    steps = [*emit(schema(), rec(1)), ["spawn_sleeper", 600, str(pidfile)], ["exit", 1]]
    results: list[glue_runtime.JobResult] = []
    job = threading.Thread(target=lambda: results.append(run_api(tmp_path, steps)), daemon=True)
    job.start()
    try:
        job.join(WAIT_S)
        assert not job.is_alive(), "the job waits for the tap's orphaned child"
    finally:
        if pidfile.exists():  # the sleeper this test's tap started
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert isinstance(results[0].error, TapFailed)


def test_a_tap_that_leaves_no_process_behind_is_not_stopped_while_targets_are_slow(
    tmp_path: Path,
):
    # The tap exits at once; the pump then spends seconds writing to a slow target.
    big = "z" * 300_000
    steps = emit(schema(), *(rec(i, pad=big) for i in range(20)), state(s=20))
    result = run_api(tmp_path, steps, [{"output": str(tmp_path / "o.jsonl"), "delay_s": 0.1}])
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 20}}


def test_a_process_the_tap_leaves_without_its_stdout_does_not_fail_the_job(tmp_path: Path):
    # The tap leaves a sleeper behind (stdout on /dev/null) and exits; the slow target keeps
    # the pump busy for seconds after that. Nothing holds the tap's output: the job is fine.
    pidfile = tmp_path / "sleeper.pid"
    big = "q" * 300_000
    steps = [
        *emit(schema(), *(rec(i, pad=big) for i in range(15)), state(s=15)),
        ["spawn_quiet_sleeper", 600, str(pidfile)],
    ]
    try:
        result = run_api(tmp_path, steps, [{"output": str(tmp_path / "o.jsonl"), "delay_s": 0.2}])
        assert result.ok, result.error
        assert result.state == {"bookmarks": {"s": 15}}
        os.kill(int(pidfile.read_text()), 0)  # and it was left alone
    finally:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_sigterm_ends_a_job_whose_tap_closed_stdout_but_lingers(tmp_path: Path):
    steps = [*emit(schema(), rec(1), state(s=1)), ["close_stdout"], ["sleep", 600]]
    argv = cli_argv(tmp_path, steps, {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", *argv],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the targets drained and their STATE was committed while the tap still runs
    wait_until(lambda: committed(tmp_path) is not None, "the first commit")
    assert committed(tmp_path) == {"bookmarks": {"s": 1}}
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130, stderr
    assert lock_is_free(tmp_path / "state.json.lock")


def test_three_sigints_end_a_job_whose_tap_ignores_sigterm(tmp_path: Path):
    # The tap sends a few records, then waits (ignoring SIGTERM) far longer than the test.
    steps: list[list[Any]] = [*emit(schema())]
    for i in range(20):
        steps += emit(rec(i), state(s=i))
    steps += [["sleep", 600]]
    write_json(tmp_path / "tap.json", {"steps": steps, "ignore_sigterm": True})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    argv = [
        sys.executable, "-m", "glue_runtime", "run", "--tap", REVIEW_TAP,
        "--target", FAKE_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        log = LineWatcher(proc.stderr)
        # the target confirmed the last STATE: the job is running, the tap waiting
        wait_until(
            lambda: {"bookmarks": {"s": 19}} in read_jsonl(tmp_path / "out.jsonl.states"),
            "the target to confirm the tap's last STATE",
        )
        for n in range(1, 4):
            proc.send_signal(signal.SIGINT)
            log.wait_for("SIGINT received", count=n)  # handled before the next one is sent
        proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = log.text()
    assert proc.returncode == 130, stderr
    assert "received again: terminating every connector" in stderr
    confirmed = read_jsonl(tmp_path / "out.jsonl.states")
    assert committed(tmp_path) in [None, *confirmed]
    assert lock_is_free(tmp_path / "state.json.lock")


def test_failed_runs_release_the_lock_and_remove_their_temp_folders(tmp_path: Path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cases = [
        ([*emit(schema(), rec(1), state(s=1)), ["exit", 1]], {}, 3),  # tap crash
        (emit(schema(), rec(1), state(s=1)), {"eof_exit_code": 2}, 3),  # target crash
        ([*emit(schema()), ["out", "{oops\n"]], {}, 4),  # malformed line
    ]
    for steps, target, code in cases:
        result = run_cli(*cli_argv(tmp_path, steps, target), cwd=tmp_path, env={"TMPDIR": str(tmp)})
        assert result.code == code, result.stderr
        assert list(tmp.iterdir()) == []
        assert lock_is_free(tmp_path / "state.json.lock")
