"""Second review of the core runtime: each test proves one finding against the contracts.

The first group proves findings that were bugs when the review filed them (as strict xfails)
and are fixed now; the second pins behaviour the review checked and found correct.

Real processes throughout: tests/singer/review_tap.py runs a scripted list of steps,
tests/singer/review_target.py captures its input and confirms the STATEs it is told to.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any

from glue_test_helpers import (
    FAKE_TARGET,
    SINGER,
    WAIT_S,
    LineWatcher,
    read_jsonl,
    run_cli,
    wait_until,
    write_json,
)

import glue_runtime
from glue_runtime.errors import StateError, TapFailed, TargetFailed
from glue_runtime.flow import expand_env, load_flow
from glue_runtime.runner import _Confirmations
from glue_runtime.state import FileStateStore, StateCommitter

REVIEW_TAP = str(SINGER / "review_tap.py")
REVIEW_TARGET = str(SINGER / "review_target.py")
SCHEMA_S = {
    "type": "SCHEMA",
    "stream": "s",
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
    "key_properties": ["id"],
}


def line(msg: dict[str, Any]) -> str:
    return json.dumps(msg) + "\n"


def schema(stream: str = "s") -> dict[str, Any]:
    return {**SCHEMA_S, "stream": stream}


def rec(i: int, stream: str = "s", **extra: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": {"id": i, **extra}}


def state(**bookmarks: Any) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": bookmarks}}


def emit(*msgs: dict[str, Any]) -> list[list[Any]]:
    """Steps that write these messages to the tap's stdout."""
    return [["out", line(m)] for m in msgs]


def run_api(
    tmp_path: Path,
    steps: list[list[Any]],
    targets: list[dict[str, Any]] | None = None,
    tap_extra: dict[str, Any] | None = None,
    **kwargs: Any,
) -> glue_runtime.JobResult:
    targets = targets or [{"output": str(tmp_path / "out0.jsonl")}]
    return glue_runtime.run(
        REVIEW_TAP,
        [REVIEW_TARGET] * len(targets),
        tap_config={"steps": steps, **(tap_extra or {})},
        target_config=targets,
        state_file=tmp_path / "state.json",
        **kwargs,
    )


def cli_argv(tmp_path: Path, steps: list[list[Any]], target: dict[str, Any], **tap: Any):
    write_json(tmp_path / "tap.json", {"steps": steps, **tap})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out0.jsonl"), **target})
    return [
        "run", "--tap", REVIEW_TAP, "--target", REVIEW_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json",
    ]  # fmt: skip


def committed(tmp_path: Path) -> Any:
    path = tmp_path / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


# == findings (bugs) ==========================================================================


def test_state_write_failure_fails_the_job(tmp_path: Path):
    # The tap turns the state file's path into a non-empty folder before its STATE, so the
    # commit's rename fails (root ignores permission bits, so chmod cannot be used here).
    steps = [*emit(schema(), rec(1)), ["mkdir", str(tmp_path / "state.json")], *emit(state(s=1))]
    result = run_api(tmp_path, steps)
    assert not result.ok
    assert isinstance(result.error, StateError)
    assert result.exit_code == 5


def never(tmp_path: Path) -> list[Any]:
    """A tap step that waits for a file that never appears: the tap runs until stopped."""
    return ["wait_file", str(tmp_path / "never"), "x", WAIT_S]


def test_target_exiting_0_without_reading_fails_the_job(tmp_path: Path):
    steps = [*emit(schema(), *(rec(i) for i in range(5)), state(s=5)), never(tmp_path)]
    result = run_api(tmp_path, steps, [{"exit_after_lines": 0, "exit_code": 0}])
    assert not result.ok
    assert isinstance(result.error, TargetFailed)


def test_a_state_is_committed_while_the_tap_is_still_running(tmp_path: Path):
    state_file = str(tmp_path / "state.json")
    # The tap waits (up to 2 s) for its STATE to be committed, and exits 7 if it never is.
    steps = [*emit(schema(), rec(1), state(s=1)), ["wait_file", state_file, '"s"', 2]]
    result = run_api(tmp_path, steps)
    assert result.ok, result.error
    assert committed(tmp_path) == {"bookmarks": {"s": 1}}


def test_full_refresh_keeps_a_bookmark_committed_earlier_in_the_run(tmp_path: Path):
    write_json(tmp_path / "state.json", {"bookmarks": {"a": 100, "b": 100}})
    state_file = str(tmp_path / "state.json")
    pad = "x" * 1_200_000  # pushes the first STATE through the runner's 1 MiB stdin buffer
    steps = [
        *emit(schema("a"), rec(1, "a"), state(a=1), rec(2, "a", pad=pad)),
        ["wait_file", state_file, '"a": 1', 5],  # the first commit has happened
        # the tap re-sends a's SCHEMA (many taps do) and emits partial states, per stream
        *emit(schema("b"), rec(1, "b"), schema("a"), state(b=1)),
    ]
    result = run_api(tmp_path, steps, full_refresh=True)
    assert result.ok, result.error
    assert committed(tmp_path) == {"bookmarks": {"a": 1, "b": 1}}


def test_two_targets_a_repeated_state_value_is_not_credited_ahead(tmp_path: Path):
    a, b = state(s=1), state(s=2)
    steps = emit(schema(), rec(1), a, rec(2), b, rec(3), a)  # values: A, B, A again
    result = run_api(
        tmp_path,
        steps,
        [
            {"output": str(tmp_path / "t0.jsonl"), "confirm": [1]},  # confirms the first A only
            {"output": str(tmp_path / "t1.jsonl"), "confirm": [2]},  # confirms B only
        ],
    )
    assert result.ok, result.error
    # target 0 never confirmed B (it confirmed only the STATE before record 2)
    assert committed(tmp_path) == a["value"]


def test_a_json_log_line_on_target_stdout_is_not_committed(tmp_path: Path):
    target = {
        "output": str(tmp_path / "out0.jsonl"),
        "stdout_lines": ['{"level": "info", "message": "connected to warehouse"}'],
    }
    result = run_api(tmp_path, emit(schema(), rec(1), state(s=1)), [target])
    assert result.ok, result.error
    assert committed(tmp_path) == {"bookmarks": {"s": 1}}


def test_secret_in_a_malformed_tap_line_is_masked(tmp_path: Path):
    secret = "sk-live-0123456789abcdef"
    steps = [*emit(schema()), ["out", f"debug: connecting with api_key={secret}\n"]]
    argv = cli_argv(tmp_path, steps, {}, api_key=secret)
    result = run_cli(*argv, "--json", cwd=tmp_path)
    assert result.code == 4, result.stderr
    assert "line 2 is not valid JSON" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_secret_on_target_stdout_is_masked(tmp_path: Path):
    secret = "hunter2-pw-xyz"
    argv = cli_argv(
        tmp_path,
        emit(schema(), rec(1), state(s=1)),
        {"password": secret, "stdout_lines": [f"login ok with password={secret}"]},
    )
    result = run_cli(*argv, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "is not a state; ignored" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_json_escaped_secret_is_masked(tmp_path: Path):
    secret = 'pa"ss\\w0rd-9'
    escaped = json.dumps(secret)[1:-1]  # pa\"ss\\w0rd-9
    steps = [["err", "config: " + json.dumps({"password": secret})], *emit(schema())]
    result = run_cli(*cli_argv(tmp_path, steps, {}, password=secret), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "config: " in result.stderr
    assert escaped not in result.stderr


def test_multiline_secret_lines_are_masked(tmp_path: Path):
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    secret = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    steps = [["err", f"using key {secret}"], *emit(schema())]
    result = run_cli(*cli_argv(tmp_path, steps, {}, private_key=secret), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "using key" in result.stderr
    assert body not in result.stderr


def test_lowercase_message_types_reach_targets_normalised(tmp_path: Path):
    msgs = [
        {**schema(), "type": "schema"},
        {**rec(1), "type": "record"},
        {**state(s=1), "type": "state"},
    ]
    result = run_api(tmp_path, emit(*msgs))
    assert result.ok, result.error
    sent = read_jsonl(tmp_path / "out0.jsonl")
    assert [m["type"] for m in sent] == ["SCHEMA", "RECORD", "STATE"]


def test_tap_failure_is_reported_when_a_target_then_fails_too(tmp_path: Path):
    steps = [*emit(schema(), rec(1), state(s=1)), ["err", "source API went away"], ["exit", 1]]
    result = run_api(tmp_path, steps, [{"output": str(tmp_path / "o.jsonl"), "eof_exit_code": 1}])
    assert isinstance(result.error, TapFailed)
    assert "source API went away" in str(result.error)


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


def test_distinct_state_keys_map_to_distinct_files(tmp_path: Path):
    store = FileStateStore(tmp_path)
    assert store.path_for("acme:hubspot") != store.path_for("acme__hubspot")


def test_default_applies_when_the_variable_is_empty():
    assert expand_env({"port": "${PORT:-5432}"}, where="f", env={"PORT": ""}) == {"port": "5432"}


def test_config_file_values_are_not_rewritten_by_env_expansion(tmp_path: Path):
    write_json(tmp_path / "tap.json", {"password": "Pa$$w0rd"})
    (tmp_path / "flow.yml").write_text(
        f"name: f\nsource: {{connector: {REVIEW_TAP}, config_file: tap.json}}\n"
        f"targets: [{{connector: {REVIEW_TARGET}}}]\n"
    )
    assert load_flow(tmp_path / "flow.yml").source.config["password"] == "Pa$$w0rd"


def test_confirmed_states_are_released(tmp_path: Path):
    # dry_run: count memory, not disk writes
    conf = _Confirmations(StateCommitter(FileStateStore(tmp_path), "k", dry_run=True), 2)
    pad = "z" * 1000
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(5000):
            value = {"bookmarks": {"s": {"id": i, "pad": pad}}}
            conf.sent_state(value)
            conf.target_emitted(0, value)
            conf.target_emitted(1, value)
        kept = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert kept < 1_000_000, f"{kept:,} bytes kept for 5000 confirmed states"


def test_a_big_integer_bookmark_is_committed_exactly(tmp_path: Path):
    big = 123456789012345678901234567890
    result = run_api(
        tmp_path, [["out", f'{{"type": "STATE", "value": {{"bookmarks": {{"s": {big}}}}}}}\n']]
    )
    assert result.ok, result.error
    assert f'"s": {big}' in (tmp_path / "state.json").read_text()


def test_a_corrupt_state_file_gives_a_failed_result_not_an_exception(tmp_path: Path):
    (tmp_path / "state.json").write_text("{not json")
    result = run_api(tmp_path, emit(schema(), rec(1)))
    assert isinstance(result.error, StateError)
    assert result.exit_code == 5


# == checked and correct =====================================================================


def test_target_exiting_0_early_while_the_tap_sends_much_fails_the_job(tmp_path: Path):
    big = "y" * 800_000
    steps = emit(schema(), *(rec(i, pad=big) for i in range(4)), state(s=4))
    result = run_api(tmp_path, steps, [{"exit_after_lines": 1, "exit_code": 0}])
    assert isinstance(result.error, TargetFailed)
    assert "stopped reading its input" in str(result.error)
    assert result.exit_code == 3
    assert committed(tmp_path) is None


def test_crlf_blank_lines_and_no_final_newline(tmp_path: Path):
    raw = (
        line(schema()).replace("\n", "\r\n")
        + "\r\n"
        + "   \n"
        + line(rec(1)).replace("\n", "\r\n")
        + line(state(s=1)).replace("\n", "\r\n")
        + line(rec(2))
        + json.dumps(state(s=2))  # no newline at EOF
    )
    result = run_api(tmp_path, [["out", raw]])
    assert result.ok, result.error
    assert result.streams["s"].records_in == result.streams["s"].records_out == 2
    assert committed(tmp_path) == {"bookmarks": {"s": 2}}
    received = (tmp_path / "out0.jsonl").read_bytes().splitlines(keepends=True)
    assert len(received) == 5 and all(x.endswith(b"\n") for x in received)


def test_non_utf8_bytes_fail_with_the_line_number(tmp_path: Path):
    bad = b'{"type": "RECORD", "stream": "s", "record": {"id": 2, "n": "\xff\xfe"}}\n'
    steps = [*emit(schema(), rec(1), state(s=1)), ["outhex", bad.hex()], *emit(state(s=2))]
    result = run_api(tmp_path, steps)
    assert isinstance(result.error, glue_runtime.ProtocolError)
    assert "line 4 is not valid JSON" in str(result.error)
    assert result.exit_code == 4
    assert committed(tmp_path) == {"bookmarks": {"s": 1}}


def test_empty_tap_output_keeps_the_stored_state(tmp_path: Path):
    write_json(tmp_path / "state.json", {"bookmarks": {"s": 7}, "x": 1})
    before = (tmp_path / "state.json").read_bytes()
    result = run_api(tmp_path, [])
    assert result.ok, result.error
    assert result.streams == {} and result.state_commits == 0
    assert (tmp_path / "state.json").read_bytes() == before


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


def test_a_target_that_exits_0_while_the_tap_still_runs_fails_the_job(tmp_path: Path):
    # Everything is flushed to the target's pipe before it exits, so no write fails; the tap
    # runs until the job stops it.
    steps = [*emit(schema(), rec(1), state(s=1)), never(tmp_path)]
    result = run_api(tmp_path, steps, [{"exit_after_lines": 1, "exit_code": 0}])
    assert isinstance(result.error, TargetFailed)
    assert "exited with code 0 before the end" in str(result.error)
    assert result.state == {}


def test_a_tap_that_leaves_no_process_behind_is_not_stopped_while_targets_are_slow(
    tmp_path: Path,
):
    # The tap exits at once; the pump then spends seconds writing to a slow target.
    big = "z" * 300_000
    steps = emit(schema(), *(rec(i, pad=big) for i in range(20)), state(s=20))
    result = run_api(tmp_path, steps, [{"output": str(tmp_path / "o.jsonl"), "delay_s": 0.1}])
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 20}}


def test_a_state_file_under_the_old_name_is_pointed_out_not_used(tmp_path: Path, caplog):
    (tmp_path / "acme__hubspot.json").write_text('{"bookmarks": {"s": 1}}')
    with caplog.at_level("WARNING", logger="glue_runtime.state"):
        assert FileStateStore(tmp_path).get("acme:hubspot") == {}
    assert "acme__hubspot.json exists" in caplog.text
    assert "acme%3Ahubspot.json" in caplog.text


def test_a_state_per_record_is_committed_in_full_without_a_write_per_state(tmp_path: Path):
    msgs = [schema()]
    for i in range(1, 301):
        msgs += [rec(i), state(s=i)]
    result = run_api(tmp_path, emit(*msgs))
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 300}}
    assert json.loads((tmp_path / "state.json").read_text()) == result.state
    assert 1 <= result.state_commits < 50


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


def test_state_write_interval_0_writes_every_confirmation(tmp_path: Path):
    msgs = [schema()]
    for i in range(1, 6):
        msgs += [rec(i), state(s=i)]
    result = run_api(tmp_path, emit(*msgs), state_write_interval_s=0)
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 5}} and result.state_commits == 5


def test_a_lone_surrogate_in_a_target_log_line_is_only_a_warning(tmp_path: Path):
    log_line = '{"level": "info", "msg": "truncated \\ud83d"}'
    target = {"output": str(tmp_path / "o.jsonl"), "stdout_lines": [log_line]}
    result = run_api(tmp_path, emit(schema(), rec(1), state(s=1)), [target])
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 1}}


def test_a_stored_bookmark_with_a_lone_surrogate_survives_a_commit(tmp_path: Path):
    (tmp_path / "state.json").write_text('{"bookmarks": {"other": "cut \\ud83d"}}')
    result = run_api(tmp_path, emit(schema(), rec(1), state(s=1)))
    assert result.ok, result.error
    assert json.loads((tmp_path / "state.json").read_text()) == {
        "bookmarks": {"other": "cut \ud83d", "s": 1}
    }


def test_a_state_write_failure_after_a_tap_failure_is_reported(tmp_path: Path):
    # The tap fails first; the slow target confirms afterwards, and that write fails: the
    # report must not only claim that the last confirmed state was committed.
    steps = [["mkdir", str(tmp_path / "state.json")], *emit(schema(), rec(1), state(s=1))]
    steps.append(["exit", 1])
    target = {"output": str(tmp_path / "o.jsonl"), "delay_s": 0.3}
    result = run_api(tmp_path, steps, [target])
    assert isinstance(result.error, TapFailed)
    assert "and then: cannot write state file" in str(result.error)


def test_a_rotated_config_that_cannot_be_saved_fails_the_run_cleanly(tmp_path: Path):
    source_dir = tmp_path / "cfg"
    source_dir.mkdir()
    config = source_dir / "tap.json"
    steps = [
        *emit(schema(), rec(1), state(s=1)),
        ["set_config", "refresh_token", "rotated-secret-value"],
        ["dir_to_file", str(source_dir)],
    ]
    config.write_text(json.dumps({"steps": steps}))
    result = glue_runtime.run(
        REVIEW_TAP,
        REVIEW_TARGET,
        tap_config=str(config),
        target_config={"output": str(tmp_path / "o.jsonl"), "delay_s": 0.2},
        state_file=tmp_path / "state.json",
    )
    assert not result.ok
    assert "could not be saved to" in str(result.error)
    assert "rotated-secret-value" not in str(result.error)
    assert result.state == {"bookmarks": {"s": 1}}  # the sync itself was confirmed
