"""Hangs and unbounded memory: timeouts, bounded connector lines, pipes released at job end.

Real tap and target processes (tests/singer), small timeouts passed through the CLI, the flow
file and the API, so each hang ends in a fraction of a second with a named error.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from glue_test_helpers import FAKE_TAP, FAKE_TARGET, read_jsonl, run_cli, write_json

import glue_runtime
from glue_runtime.errors import ConfigError, ConnectorTimeout
from glue_runtime.flow import parse_flow
from glue_runtime.timeouts import Timeouts, parse_cli_timeouts, parse_duration


def _run_measured(*args: str, cwd: Path) -> tuple[int, str, int]:
    """Run the CLI in a process that reports its own peak RSS (KiB): (code, stderr, peak)."""
    import subprocess

    code = (
        "import atexit, sys\n"
        # VmHWM, not ru_maxrss: that one keeps the parent's peak across fork and exec
        "atexit.register(lambda: print('PEAK_RSS_KB', [ln.split()[1] for ln in "
        "open('/proc/self/status') if ln.startswith('VmHWM')][0], file=sys.stderr))\n"
        "from glue_runtime.cli import main\n"
        f"main(args={list(args)!r}, prog_name='glue')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    peak = int(proc.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return proc.returncode, proc.stderr, peak


# -- idle tap --------------------------------------------------------------------------------


def test_idle_tap_is_stopped_with_a_named_error_and_confirmed_state_kept(job):
    result = job.run(
        {"records": 50, "state_every": 5, "hang_after": 12}, None, "--timeout", "idle=2"
    )
    assert result.code == 3, result.stderr
    assert "tap-fake_tap.py wrote nothing for 2s (idle timeout" in result.stderr
    assert "--timeout idle=SECONDS" in result.stderr  # says how to raise it
    assert "hanging after 12 records" in result.stderr  # its stderr tail is in the report
    # The targets flushed the 12 records it sent and the last STATE before the hang counts.
    assert [r["id"] for r in job.records()] == list(range(1, 13))
    assert job.committed() == {"bookmarks": {"users": {"id": 10}}}


def test_idle_timeout_from_the_flow_file(tmp_path: Path):
    out = tmp_path / "out.jsonl"
    (tmp_path / "flow.yml").write_text(
        textwrap.dedent(
            f"""
            name: idle
            source:
              connector: {FAKE_TAP}
              config: {{records: 20, state_every: 5, hang_after: 7}}
            targets:
              - connector: {FAKE_TARGET}
                config: {{output: {out}}}
            state: {{file: state.json}}
            timeouts: {{idle: 1500ms}}
            """
        )
    )
    result = run_cli("run", "flow.yml", cwd=tmp_path)
    assert result.code == 3, result.stderr
    assert "wrote nothing for 1.5s (idle timeout" in result.stderr
    assert json.loads((tmp_path / "state.json").read_text()) == {"bookmarks": {"users": {"id": 5}}}


def test_target_that_stops_reading_is_stopped_after_the_idle_timeout(job):
    # The tap is not idle (its output waits in the pipe): the job waits on the target.
    result = job.run(
        {"records": 300000, "state_every": 5}, {"stall_after": 100}, "--timeout", "idle=2"
    )
    assert result.code == 3, result.stderr[-3000:]
    assert "target-fake_target.py read nothing of its input for 2s (idle timeout)" in (
        result.stderr
    )
    assert "stalled, reading nothing more" in result.stderr
    assert job.committed() == job.confirmed()[-1]


def test_a_tap_logging_to_stderr_is_not_idle(job):
    # Silent on stdout for 3 s, but a progress line on stderr every 50 ms: alive, not idle.
    result = job.run(
        {"records": 6, "hang_after": 3, "heartbeat": 0.05, "heartbeat_for": 3},
        None,
        "--timeout",
        "idle=2",
    )
    assert result.code == 0, result.stderr
    assert "still waiting for the API" in result.stderr
    assert [r["id"] for r in job.records()] == list(range(1, 7))


def test_idle_timeout_through_the_api(tmp_path: Path):
    out = tmp_path / "out.jsonl"
    result = glue_runtime.run(
        FAKE_TAP,
        FAKE_TARGET,
        tap_config={"records": 10, "state_every": 2, "hang_after": 4},
        target_config={"output": str(out)},
        state_file=tmp_path / "state.json",
        timeouts={"idle": 2},
    )
    assert result.status == "failed"
    assert isinstance(result.error, ConnectorTimeout)
    assert result.error.exit_code == 3
    assert result.state == {"bookmarks": {"users": {"id": 4}}}


# -- drain -----------------------------------------------------------------------------------


def test_target_that_never_exits_is_stopped_after_the_drain_timeout(job):
    result = job.run({"records": 8, "state_every": 4}, {"never_exit": True}, "--timeout", "drain=2")
    assert result.code == 3, result.stderr
    assert "target-fake_target.py was still running 2s after its input was closed" in (
        result.stderr
    )
    assert "(drain timeout)" in result.stderr
    # It confirmed everything before hanging: that much is committed.
    assert job.committed() == {"bookmarks": {"users": {"id": 8}}}


def test_one_sigterm_ends_a_run_whose_target_never_exits(job):
    """It took two SIGTERMs: the first closed the target's input, and it never exited."""
    import signal
    import subprocess
    import time

    job.configs({"records": 100000, "state_every": 5, "sleep": 0.002}, {"never_exit": True})
    proc = subprocess.Popen(
        [*job.argv(), "--timeout", "drain=2"],
        cwd=job.dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not job.state.exists() and time.monotonic() < deadline:  # a first commit: it runs
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "was still running 2s after its input was closed (drain timeout)" in stderr
    assert job.committed() == job.confirmed()[-1]


def test_one_sigterm_ends_a_run_whose_tap_ignores_it(tmp_path: Path):
    """A tap ignoring SIGTERM is killed once the drain timeout has passed since the signal."""
    import signal
    import subprocess

    from glue_test_helpers import SINGER

    schema = {"type": "SCHEMA", "stream": "s", "schema": {"type": "object"}, "key_properties": []}
    steps = [["out", json.dumps(schema) + "\n"]]
    steps += [["out", json.dumps({"type": "STATE", "value": {"n": 1}}) + "\n"], ["flush"]]
    steps += [["err", "tap: ready"], ["sleep", 3600]]
    write_json(tmp_path / "tap.json", {"steps": steps, "ignore_sigterm": True})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "glue_runtime", "run", "--tap", str(SINGER / "review_tap.py"),
            "--target", FAKE_TARGET, "--tap-config", "tap.json", "--target-config",
            "target.json", "--state-file", "state.json", "--timeout", "drain=1",
        ],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for text in proc.stderr:  # wait for the event: the tap is running and idle
        seen.append(text)
        if "tap: ready" in text:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stderr
    assert "did not stop within 1s of being asked to (drain timeout); killing it" in stderr
    assert json.loads((tmp_path / "state.json").read_text()) == {"n": 1}


def test_tap_that_closes_its_output_but_never_exits_is_stopped(tmp_path: Path):
    out = tmp_path / "out.jsonl"
    result = glue_runtime.run(
        FAKE_TAP,
        FAKE_TARGET,
        tap_config={"records": 4, "state_every": 2, "exit_and_hang": True},
        target_config={"output": str(out)},
        state_file=tmp_path / "state.json",
        timeouts={"drain": 2},
    )
    assert isinstance(result.error, ConnectorTimeout), result.error
    assert "tap-fake_tap.py was still running 2s after its output ended" in str(result.error)
    assert result.state == {"bookmarks": {"users": {"id": 4}}}
    assert len(read_jsonl(out)) == 4


# -- --about and --discover ------------------------------------------------------------------


def test_about_that_never_returns_fails_with_a_named_error(job, tmp_path: Path):
    pidfile = tmp_path / "about.pid"
    result = run_cli(
        "run", "--tap", FAKE_TAP, "--target", FAKE_TARGET,
        *job.configs({"records": 3}), "--state-file", "state.json",
        "--timeout", "about=2",
        cwd=tmp_path,
        env={"FAKE_TAP_ABOUT": "hang", "FAKE_TAP_PIDFILE": str(pidfile)},
    )  # fmt: skip
    assert result.code == 3, result.stderr
    assert "tap-fake_tap.py --about did not finish within 2s; it was stopped" in result.stderr
    assert "--timeout about=SECONDS" in result.stderr
    assert not job.records()
    _assert_dead(int(pidfile.read_text()))


def test_discover_that_never_returns_fails_with_a_named_error(job, tmp_path: Path):
    (tmp_path / "fieldmap.yml").write_text("users: ['*']\n")
    pidfile = tmp_path / "discover.pid"
    result = run_cli(
        "run", "--tap", FAKE_TAP, "--target", FAKE_TARGET,
        *job.configs({"records": 3}), "--state-file", "state.json",
        "--field-map", "fieldmap.yml", "--timeout", "discover=2",
        cwd=tmp_path,
        env={"FAKE_TAP_DISCOVER": "hang", "FAKE_TAP_PIDFILE": str(pidfile)},
    )  # fmt: skip
    assert result.code == 3, result.stderr
    assert "tap-fake_tap.py --discover did not finish within 2s" in result.stderr
    assert "waiting forever" in result.stderr  # the tail of its stderr
    _assert_dead(int(pidfile.read_text()))


def test_glue_discover_takes_the_flow_files_timeout_and_the_option(tmp_path: Path):
    (tmp_path / "flow.yml").write_text(
        f"source: {FAKE_TAP}\ntargets: [{FAKE_TARGET}]\ntimeouts: {{discover: 1h}}\n"
    )
    env = {"FAKE_TAP_DISCOVER": "hang"}
    result = run_cli(
        "discover", "--flow", "flow.yml", "--timeout", "discover=2", cwd=tmp_path, env=env
    )
    assert result.code == 3, result.stderr
    assert "tap-fake_tap.py --discover did not finish within 2s" in result.stderr
    (tmp_path / "flow.yml").write_text(
        f"source: {FAKE_TAP}\ntargets: [{FAKE_TARGET}]\ntimeouts: {{discover: 1500ms}}\n"
    )
    result = run_cli("discover", "--flow", "flow.yml", cwd=tmp_path, env=env)
    assert result.code == 3, result.stderr
    assert "--discover did not finish within 1.5s" in result.stderr


def _assert_dead(pid: int) -> None:
    """The process is gone (the runner reaped it: no zombie left either)."""
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# -- settings --------------------------------------------------------------------------------


def test_timeout_values_and_their_errors():
    assert parse_duration(90, where="x") == 90.0
    assert parse_duration("30m", where="x") == 1800.0
    assert parse_duration("2h", where="x") == 7200.0
    assert parse_duration("250ms", where="x") == 0.25
    assert parse_duration(0, where="x") is None  # 0 turns it off
    assert parse_duration(None, where="x") is None
    for bad in ("soon", -1, True, "5 days"):
        with pytest.raises(ConfigError):
            parse_duration(bad, where="x")
    assert parse_cli_timeouts(["idle=0", "drain=5"]) == {"idle": None, "drain": 5.0}
    with pytest.raises(ConfigError, match="NAME=DURATION"):
        parse_cli_timeouts(["idle"])
    assert Timeouts().merged({"about": "1m"}, where="x") == Timeouts(about=60.0)


def test_flow_file_timeouts_are_checked(tmp_path: Path):
    base = {"source": "tap-x", "targets": ["target-y"]}
    flow = parse_flow(
        {**base, "timeouts": {"idle": "45m", "drain": 0}}, where="f", base_dir=tmp_path
    )
    assert flow.timeouts == {"idle": 2700.0, "drain": None}
    with pytest.raises(ConfigError) as err:
        parse_flow({**base, "timeouts": {"idel": 5}}, where="f", base_dir=tmp_path)
    assert "unknown timeout 'idel'" in str(err.value) and "did you mean 'idle'" in str(err.value)
    with pytest.raises(ConfigError, match=r"f: timeouts\.drain"):
        parse_flow({**base, "timeouts": {"drain": "later"}}, where="f", base_dir=tmp_path)


def test_cli_refuses_a_bad_timeout(job):
    result = job.run({"records": 1}, None, "--timeout", "idle=forever")
    assert result.code == 2
    assert "--timeout.idle" in result.stderr


# -- bounded lines ---------------------------------------------------------------------------

HUGE = 200 * 1024 * 1024


def test_huge_stderr_line_is_cut_in_the_log_and_memory_stays_bounded(job):
    job.configs({"records": 5, "huge_stderr_bytes": HUGE})
    code, stderr, peak_kb = _run_measured(
        "run", "--tap", FAKE_TAP, "--target", FAKE_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json", cwd=job.dir,
    )  # fmt: skip
    assert code == 0, stderr[-3000:]
    assert f"[line cut: {HUGE + 1:,} bytes, only the first 65,536 are shown]" in stderr
    assert "END-OF-BIG" not in stderr  # the rest was dropped
    assert len(stderr) < 1024 * 1024
    assert [r["id"] for r in job.records()] == [1, 2, 3, 4, 5]
    # Holding the line would take at least its size; the runner stays far below it.
    assert peak_kb * 1024 < HUGE / 2, f"peak RSS {peak_kb} KiB"


def test_huge_target_stdout_line_confirms_nothing_and_is_dropped(job):
    job.configs({"records": 6, "state_every": 3}, {"huge_stdout_bytes": HUGE})
    code, stderr, peak_kb = _run_measured(
        "run", "--tap", FAKE_TAP, "--target", FAKE_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json",
        "--max-line-bytes", str(1024 * 1024), cwd=job.dir,
    )  # fmt: skip
    assert code == 0, stderr[-3000:]
    assert f"stdout line 1 is {HUGE + 1:,} bytes, over the 1,048,576 bytes" in stderr
    assert "it confirms nothing" in stderr
    assert job.committed() == {"bookmarks": {"users": {"id": 6}}}  # later lines still count
    assert peak_kb * 1024 < HUGE / 2, f"peak RSS {peak_kb} KiB"


def test_huge_line_from_a_batch_etl_script_is_cut_in_the_log(tmp_path: Path):
    """The batch script's output relay had the same unbounded line as connectors' stderr."""
    script = tmp_path / "etl.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            block = b"z" * (1 << 20)
            for _ in range({HUGE >> 20}):
                sys.stdout.buffer.write(block)
            sys.stdout.buffer.write(b"\\n")
            sys.stdout.flush()
            with open(os.path.join(os.environ["ETL_OUTPUT"], "data.singer"), "w") as fh:
                fh.write('{{"type": "SCHEMA", "stream": "s", "schema": {{}}, "key_properties": []}}\\n')
                fh.write('{{"type": "RECORD", "stream": "s", "record": {{"id": 1}}}}\\n')
            """
        )
    )
    (tmp_path / "flow.yml").write_text(
        f"name: b\nsource: {{connector: {FAKE_TAP}, config: {{records: 2}}}}\n"
        f"etl: {{script: {script}, mode: batch}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config: {{output: out.jsonl}}}}]\n"
    )
    code, stderr, peak_kb = _run_measured("run", "flow.yml", cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    assert f"[line cut: {HUGE + 1:,} bytes, only the first 65,536 are shown]" in stderr
    assert len(stderr) < 1024 * 1024
    assert read_jsonl(tmp_path / "out.jsonl") == [{"stream": "s", "id": 1}]
    assert peak_kb * 1024 < HUGE / 2, f"peak RSS {peak_kb} KiB"


def test_a_secret_across_the_cut_of_a_long_stderr_line_is_masked_whole():
    """The cut falls inside the secret: it is masked before cutting, no fragment shows."""
    import logging

    from glue_runtime.process import STDERR_LINE_BYTES, ConnectorProcess
    from glue_runtime.secrets import Redactor

    secret = "sk_live_0123456789abcdef"
    text = "x" * (STDERR_LINE_BYTES - 10) + secret + "y" * 200_000
    script = (
        f"import sys; sys.stderr.write('x' * {STDERR_LINE_BYTES - 10} + {secret!r} "
        "+ 'y' * 200_000 + '\\n'); sys.stderr.write('next\\n')"
    )
    proc = ConnectorProcess(
        "tap-cut",
        [sys.executable, "-c", script],
        stdin=False,
        redactor=Redactor({secret}),
        log_level=logging.DEBUG,
    )
    assert proc.stdout.read() == b""
    assert proc.wait(60) == 0
    proc.close()
    cut, after = proc.stderr_tail
    assert "sk_live" not in cut and "0123456789abcdef"[:6] not in cut.replace("x", "")
    assert cut.endswith(f"[line cut: {len(text) + 1:,} bytes, only the first 65,536 are shown]")
    assert after == "next"


# -- pipes -----------------------------------------------------------------------------------


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_pipes_are_released_at_job_end_without_the_garbage_collector(tmp_path: Path):
    write_json(tmp_path / "tap.json", {"records": 3})
    gc.collect()
    gc.disable()
    try:
        before = _open_fds()
        for i in range(10):
            result = glue_runtime.run(
                FAKE_TAP,
                FAKE_TARGET,
                tap_config=tmp_path / "tap.json",
                target_config={"output": str(tmp_path / f"out{i}.jsonl")},
                state_file=tmp_path / f"state{i}.json",
            )
            assert result.ok, result.error
        after = _open_fds()
    finally:
        gc.enable()
    assert after - before == set(), {
        fd: os.readlink(f"/proc/self/fd/{fd}") for fd in after - before if fd in _open_fds()
    }


@pytest.mark.parametrize("call", ["about", "discover"])
def test_about_and_discover_die_with_a_killed_runner(job, tmp_path: Path, call: str):
    """kill -9 of the runner during a hanging --about/--discover leaves no connector running."""
    import subprocess
    import time

    (tmp_path / "fieldmap.yml").write_text("users: ['*']\n")
    pidfile = tmp_path / f"{call}.pid"
    job.configs({"records": 3})
    proc = subprocess.Popen(
        [*job.argv(), "--field-map", "fieldmap.yml"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, f"FAKE_TAP_{call.upper()}": "hang", "FAKE_TAP_PIDFILE": str(pidfile)},
    )
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait for the event: the hanging call has started
    pid = int(pidfile.read_text())
    proc.kill()
    proc.wait(30)
    try:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"--{call} (pid {pid}) outlived the runner"
    finally:
        if _alive(pid):
            os.kill(pid, 9)  # leave nothing behind when it fails


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
