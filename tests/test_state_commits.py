"""What a job commits to its state file, and when: states confirmed while the tap still runs,
one write for many confirmations, bookmarks kept across full refreshes and empty runs, values
kept exactly, and state files that cannot be read or written failing the job with a StateError.

Real processes throughout (tests/scripted_run.py): the scripted tap runs a list of steps, the
scripted target captures its input and confirms the STATEs it is told to.
"""

from __future__ import annotations

import json
from pathlib import Path

from glue_test_helpers import write_json
from scripted_run import committed, emit, rec, run_api, schema, state

from glue_runtime.errors import StateError, TapFailed


def test_a_state_is_committed_while_the_tap_is_still_running(tmp_path: Path):
    state_file = str(tmp_path / "state.json")
    # The tap waits (up to 2 s) for its STATE to be committed, and exits 7 if it never is.
    steps = [*emit(schema(), rec(1), state(s=1)), ["wait_file", state_file, '"s"', 2]]
    result = run_api(tmp_path, steps)
    assert result.ok, result.error
    assert committed(tmp_path) == {"bookmarks": {"s": 1}}


def test_a_state_per_record_is_committed_in_full_without_a_write_per_state(tmp_path: Path):
    msgs = [schema()]
    for i in range(1, 301):
        msgs += [rec(i), state(s=i)]
    result = run_api(tmp_path, emit(*msgs))
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 300}}
    assert json.loads((tmp_path / "state.json").read_text()) == result.state
    assert 1 <= result.state_commits < 50


def test_state_write_interval_0_writes_every_confirmation(tmp_path: Path):
    msgs = [schema()]
    for i in range(1, 6):
        msgs += [rec(i), state(s=i)]
    result = run_api(tmp_path, emit(*msgs), state_write_interval_s=0)
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 5}} and result.state_commits == 5


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


def test_empty_tap_output_keeps_the_stored_state(tmp_path: Path):
    write_json(tmp_path / "state.json", {"bookmarks": {"s": 7}, "x": 1})
    before = (tmp_path / "state.json").read_bytes()
    result = run_api(tmp_path, [])
    assert result.ok, result.error
    assert result.streams == {} and result.state_commits == 0
    assert (tmp_path / "state.json").read_bytes() == before


def test_a_big_integer_bookmark_is_committed_exactly(tmp_path: Path):
    big = 123456789012345678901234567890
    result = run_api(
        tmp_path, [["out", f'{{"type": "STATE", "value": {{"bookmarks": {{"s": {big}}}}}}}\n']]
    )
    assert result.ok, result.error
    assert f'"s": {big}' in (tmp_path / "state.json").read_text()


def test_a_stored_bookmark_with_a_lone_surrogate_survives_a_commit(tmp_path: Path):
    (tmp_path / "state.json").write_text('{"bookmarks": {"other": "cut \\ud83d"}}')
    result = run_api(tmp_path, emit(schema(), rec(1), state(s=1)))
    assert result.ok, result.error
    assert json.loads((tmp_path / "state.json").read_text()) == {
        "bookmarks": {"other": "cut \ud83d", "s": 1}
    }


def test_a_corrupt_state_file_gives_a_failed_result_not_an_exception(tmp_path: Path):
    (tmp_path / "state.json").write_text("{not json")
    result = run_api(tmp_path, emit(schema(), rec(1)))
    assert isinstance(result.error, StateError)
    assert result.exit_code == 5


def test_state_write_failure_fails_the_job(tmp_path: Path):
    # The tap turns the state file's path into a non-empty folder before its STATE, so the
    # commit's rename fails (root ignores permission bits, so chmod cannot be used here).
    steps = [*emit(schema(), rec(1)), ["mkdir", str(tmp_path / "state.json")], *emit(state(s=1))]
    result = run_api(tmp_path, steps)
    assert not result.ok
    assert isinstance(result.error, StateError)
    assert result.exit_code == 5


def test_a_state_write_failure_after_a_tap_failure_is_reported(tmp_path: Path):
    # The tap fails first; the slow target confirms afterwards, and that write fails: the
    # report must not only claim that the last confirmed state was committed.
    steps = [["mkdir", str(tmp_path / "state.json")], *emit(schema(), rec(1), state(s=1))]
    steps.append(["exit", 1])
    target = {"output": str(tmp_path / "o.jsonl"), "delay_s": 0.3}
    result = run_api(tmp_path, steps, [target])
    assert isinstance(result.error, TapFailed)
    assert "and then: cannot write state file" in str(result.error)
