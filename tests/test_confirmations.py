"""Which STATE is committed when several targets confirm at different times."""

from __future__ import annotations

import json
import sys
import threading
import time
import tracemalloc
from pathlib import Path

from scripted_run import committed, emit, rec, run_api, schema, state

from glue_runtime.confirmations import Confirmations, TargetOutput, bookmarks_not_moved
from glue_runtime.process import ConnectorProcess
from glue_runtime.secrets import Redactor
from glue_runtime.state import FileStateStore, StateCommitter


class RecordingCommitter:
    """Records each write; with no write interval, every staged value is written at once."""

    def __init__(self) -> None:
        self.commits: list[dict] = []
        self.staged: dict | None = None

    def stage(self, value: dict) -> None:
        self.staged = value

    def write(self) -> None:
        if self.staged is not None:
            self.commits.append(self.staged)
            self.staged = None


def s(i: int) -> dict:
    return {"bookmarks": {"a": {"id": i}}}


def test_commits_the_newest_state_every_target_confirmed():
    c = RecordingCommitter()
    conf = Confirmations(c, 2)  # type: ignore[arg-type]
    for i in range(1, 6):
        conf.sent_state(s(i))
    conf.target_emitted(0, s(1))
    conf.target_emitted(0, s(2))
    conf.target_emitted(0, s(3))
    assert c.commits == []  # target 1 has confirmed nothing yet
    conf.target_emitted(1, s(2))
    assert c.commits == [s(2)]
    conf.target_emitted(1, s(5))  # target 1 jumps ahead; target 0 is at 3
    assert c.commits == [s(2), s(3)]
    conf.target_emitted(0, s(5))
    assert c.commits == [s(2), s(3), s(5)]


def test_unknown_state_and_frozen_confirmations_commit_nothing():
    c = RecordingCommitter()
    conf = Confirmations(c, 2)  # type: ignore[arg-type]
    conf.sent_state(s(1))
    conf.target_emitted(0, {"made": "up"})
    conf.target_emitted(1, s(1))
    assert c.commits == []
    conf.target_emitted(0, s(1))
    assert c.commits == [s(1)]
    conf.sent_state(s(2))
    conf.freeze()  # a target failed
    conf.target_emitted(0, s(2))
    conf.target_emitted(1, s(2))
    assert c.commits == [s(1)]


def test_single_target_commits_only_states_the_job_sent():
    c = RecordingCommitter()
    conf = Confirmations(c, 1)  # type: ignore[arg-type]
    assert conf.target_emitted(0, s(7)) is False  # never sent: a log line, not a confirmation
    conf.sent_state(s(7))
    assert conf.target_emitted(0, s(7)) is True
    assert conf.target_emitted(0, s(7)) is True  # a repeat of its last confirmation is quiet
    assert c.commits == [s(7)]


class SmallWindow(Confirmations):
    MAX_PENDING = 3  # so the tests can drop sends from memory


def test_a_confirmed_send_dropped_from_memory_still_commits():
    c = RecordingCommitter()
    conf = SmallWindow(c, 2)  # type: ignore[arg-type]
    for i in range(1, 4):
        conf.sent_state(s(i))
    conf.target_emitted(0, s(2))
    for i in range(4, 8):
        conf.sent_state(s(i))  # s(2), target 0's confirmation, leaves memory
    conf.target_emitted(1, s(7))
    assert c.commits == [s(2)]


def test_a_repeat_of_the_last_confirmation_earns_no_credit():
    c = RecordingCommitter()
    conf = Confirmations(c, 2)  # type: ignore[arg-type]
    for value in (s(1), s(2), s(1)):
        conf.sent_state(value)
    conf.target_emitted(0, s(1))
    conf.target_emitted(0, s(1))  # repeats its last state; it has not flushed the third send
    conf.target_emitted(1, s(1))
    conf.target_emitted(1, s(2))
    assert c.commits == [s(1)]  # target 0 is still at the first send, before s(2)


def test_a_value_that_may_be_a_dropped_send_earns_no_credit():
    c = RecordingCommitter()
    conf = SmallWindow(c, 2)  # type: ignore[arg-type]
    for value in (s(1), s(2), s(3), s(1)):
        conf.sent_state(value)  # the first s(1) is dropped when s(3) arrives
    conf.target_emitted(1, s(3))
    conf.target_emitted(0, s(1))  # the first send or the fourth? Unknown: no credit
    assert c.commits == []
    conf.target_emitted(0, s(2))
    assert c.commits == [s(2)]
    conf.target_emitted(0, s(3))
    conf.target_emitted(0, s(1))  # after s(3) only the fourth send is possible
    conf.target_emitted(1, s(1))
    assert c.commits == [s(2), s(3), s(1)]


class ThreadRecordingCommitter(RecordingCommitter):
    """Also records which thread wrote each value, and lets a test wait for a write."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[tuple[dict, bool]] = []  # (value, written by the main thread)
        self.times: list[float] = []
        self.cond = threading.Condition()

    def write(self) -> None:
        with self.cond:
            if self.staged is not None:
                self.writers.append((self.staged, threading.current_thread() is MAIN))
                self.times.append(time.monotonic())
            super().write()
            self.cond.notify_all()


MAIN = threading.main_thread()


def test_confirmations_are_written_at_most_once_per_interval_and_at_the_end():
    c = ThreadRecordingCommitter()
    conf = Confirmations(c, 1, write_interval_s=0.3)  # type: ignore[arg-type]
    for i in range(1, 4):
        conf.sent_state(s(i))
        conf.target_emitted(0, s(i))
    # the first at once; s(2) and s(3) wait for the interval: no caller writes them
    assert [v for v, by_caller in c.writers if by_caller] == [s(1)]
    # a timer writes the newest, though nothing else comes
    with c.cond:
        assert c.cond.wait_for(lambda: (s(3), False) in c.writers, timeout=60)
    assert c.commits[0] == s(1) and c.commits[-1] == s(3)
    # at most one write per interval (a lower bound: a slow machine only spaces them more)
    assert all(b - a >= 0.29 for a, b in zip(c.times, c.times[1:], strict=False))
    conf.sent_state(s(4))
    conf.target_emitted(0, s(4))
    conf.finish()
    assert c.commits[-2:] == [s(3), s(4)]
    assert c.commits.count(s(4)) == 1


# == memory, and targets that print more than states (real processes) ==========================


def test_confirmed_states_are_released(tmp_path: Path):
    # dry_run: count memory, not disk writes
    conf = Confirmations(StateCommitter(FileStateStore(tmp_path), "k", dry_run=True), 2)
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


def test_a_lone_surrogate_in_a_target_log_line_is_only_a_warning(tmp_path: Path):
    log_line = '{"level": "info", "msg": "truncated \\ud83d"}'
    target = {"output": str(tmp_path / "o.jsonl"), "stdout_lines": [log_line]}
    result = run_api(tmp_path, emit(schema(), rec(1), state(s=1)), [target])
    assert result.ok, result.error
    assert result.state == {"bookmarks": {"s": 1}}


# -- TargetOutput: a real target's stdout, credited line by line ----------------------------


def _target_printing(lines: list[bytes]) -> ConnectorProcess:
    """A real process that writes ``lines`` on its stdout, as a target confirming would."""
    code = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"
    proc = ConnectorProcess(
        "target-x", [sys.executable, "-c", code], stdin=True, redactor=Redactor()
    )
    proc.stdin.write(b"".join(lines))
    proc.close_stdin()
    return proc


def test_a_target_stdout_is_credited_in_order_and_what_is_not_a_sent_state_is_counted(caplog):
    c = RecordingCommitter()
    conf = Confirmations(c, 1)  # type: ignore[arg-type]
    for i in (1, 2, 3):
        conf.sent_state(s(i))
    lines = [
        b'{"level": "info", "msg": "a log line"}\n',
        json.dumps(s(1)).encode() + b"\n",
        b"\n",
        json.dumps({"type": "STATE", "value": s(3)}).encode() + b"\n",
        json.dumps(s(9)).encode() + b"\n",  # never sent
    ]
    target = _target_printing(lines)
    closed: list[tuple[int, int]] = []
    reader = TargetOutput(
        0,
        target,
        conf,
        max_line_bytes=1 << 20,
        redactor=Redactor(),
        on_commit_error=lambda exc: closed.append((-1, -1)),
        on_closed=lambda index, code: closed.append((index, code)),
    )
    reader.start()
    reader.thread.join(60)
    target.close()
    assert c.commits == [s(1), s(3)]
    assert reader.ignored_lines == 2
    assert closed == [(0, 0)]
    assert "target-x: stdout line 5 is not a STATE this job sent" in caplog.text
    assert bookmarks_not_moved(conf, ["target-x"], [reader.ignored_lines]) is None


def test_the_no_confirmation_warning_names_each_silent_target_and_why():
    conf = Confirmations(RecordingCommitter(), 2)  # type: ignore[arg-type]
    assert bookmarks_not_moved(conf, ["a", "b"], [0, 0]) is None  # nothing sent: nothing to say
    conf.sent_state(s(1))
    conf.sent_state(s(2))
    text = bookmarks_not_moved(conf, ["a", "b"], [0, 3])
    assert text is not None
    assert text.startswith("bookmarks did not move: the tap sent 2 STATE message(s) but ")
    assert "a emitted no state on its stdout" in text
    assert "b wrote 3 stdout line(s), none of them a STATE this job sent" in text
