"""End to end through the CLI: real tap and target processes, a real state file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from glue_test_helpers import (
    FAKE_TAP,
    FAKE_TARGET,
    SINGER,
    WAIT_S,
    read_jsonl,
    run_cli,
    wait_until,
    write_json,
)
from scripted_run import REVIEW_TAP, REVIEW_TARGET, emit, rec, schema, state

import glue_runtime


def test_full_sync_then_incremental_resume(job):
    first = job.run({"records": 12, "state_every": 5})
    assert first.code == 0, first.stderr
    assert [r["id"] for r in job.records()] == list(range(1, 13))
    assert job.committed() == {"bookmarks": {"users": {"id": 12}}}
    assert "users" in first.stderr and "12" in first.stderr  # the summary names the stream

    second = job.run({"records": 5, "state_every": 5})
    assert second.code == 0, second.stderr
    assert 'state received {"bookmarks": {"users": {"id": 12}}}' in second.stderr
    assert [r["id"] for r in job.records()][12:] == [13, 14, 15, 16, 17]
    assert job.committed() == {"bookmarks": {"users": {"id": 17}}}


def test_tap_crash_commits_exactly_what_the_target_confirmed(job):
    result = job.run({"records": 50, "state_every": 5, "fail_after": 23})
    assert result.code == 3
    assert "source API went away" in result.stderr  # the tap's stderr tail is reported
    assert "exited with code 1" in result.stderr
    # The target flushed the 23 records it got and confirmed the last STATE before them.
    assert len(job.records()) == 23
    assert job.confirmed()[-1] == {"bookmarks": {"users": {"id": 20}}}
    assert job.committed() == job.confirmed()[-1]


def test_target_crash_stops_the_tap_and_commits_nothing_further(job):
    result = job.run({"records": 5000, "state_every": 5}, {"fail_after": 12})
    assert result.code == 3
    assert "constraint violation" in result.stderr
    assert "target" in result.stderr and "exited with code 1" in result.stderr
    assert job.confirmed()[-1] == {"bookmarks": {"users": {"id": 10}}}
    assert job.committed() == {"bookmarks": {"users": {"id": 10}}}


def test_sigterm_drains_and_commits_only_confirmed_state(tmp_path: Path, job):
    job.configs({"records": 100000, "state_every": 5, "sleep": 0.002})
    out, state = job.out, job.state
    proc = subprocess.Popen(
        job.argv(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(state.exists, "the first committed state")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130, stderr
    assert "interrupted by SIGTERM" in stderr
    committed = json.loads(state.read_text())  # valid JSON, never half-written
    confirmed = read_jsonl(Path(str(out) + ".states"))
    assert committed == confirmed[-1]
    assert committed["bookmarks"]["users"]["id"] <= len(read_jsonl(out))
    assert len(read_jsonl(out)) < 100000


def test_two_targets_commit_only_what_both_confirmed(tmp_path: Path):
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    write_json(tmp_path / "tap.json", {"records": 23, "state_every": 5})
    write_json(tmp_path / "fast.json", {"output": str(fast)})
    # The slow target confirms only at the end of its input.
    write_json(tmp_path / "slow.json", {"output": str(slow), "confirm_every": 1000})
    result = glue_runtime.run(
        FAKE_TAP,
        [FAKE_TARGET, FAKE_TARGET],
        tap_config=tmp_path / "tap.json",
        target_config=[tmp_path / "fast.json", tmp_path / "slow.json"],
        state_file=tmp_path / "state.json",
    )
    assert result.ok, result.error
    assert len(read_jsonl(fast)) == len(read_jsonl(slow)) == 23
    slow_states = read_jsonl(Path(str(slow) + ".states"))
    fast_states = read_jsonl(Path(str(fast) + ".states"))
    assert len(fast_states) == 5 and len(slow_states) == 1
    assert result.state == slow_states[-1] == {"bookmarks": {"users": {"id": 23}}}


def test_two_targets_nothing_committed_until_both_confirm(tmp_path: Path):
    """The fast target confirms four STATEs; the slow one dies before confirming any."""
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    result = glue_runtime.run(
        FAKE_TAP,
        [FAKE_TARGET, FAKE_TARGET],
        tap_config={"records": 23, "state_every": 5},
        target_config=[
            {"output": str(fast)},
            {"output": str(slow), "confirm_every": 1000, "fail_after": 22},
        ],
        state_file=tmp_path / "state.json",
    )
    assert isinstance(result.error, glue_runtime.TargetFailed)
    assert len(read_jsonl(Path(str(fast) + ".states"))) >= 4
    assert read_jsonl(Path(str(slow) + ".states")) == []
    assert result.state == {} and result.state_commits == 0
    assert not (tmp_path / "state.json").exists()


def test_two_targets_one_fails_nothing_further_committed(tmp_path: Path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    write_json(tmp_path / "tap.json", {"records": 3000, "state_every": 5})
    result = glue_runtime.run(
        FAKE_TAP,
        [FAKE_TARGET, FAKE_TARGET],
        tap_config=tmp_path / "tap.json",
        target_config=[{"output": str(good)}, {"output": str(bad), "fail_after": 12}],
        state_file=tmp_path / "state.json",
    )
    assert result.status == "failed"
    assert isinstance(result.error, glue_runtime.TargetFailed)
    assert result.state == {"bookmarks": {"users": {"id": 10}}}
    assert json.loads((tmp_path / "state.json").read_text()) == result.state


def test_subset_run_and_full_refresh_keep_other_bookmarks(job):
    assert job.run({"streams": ["a", "b"], "records": 4}).code == 0
    assert job.committed() == {"bookmarks": {"a": {"id": 4}, "b": {"id": 4}}}

    assert job.run({"streams": ["a"], "records": 3}).code == 0
    assert job.committed() == {"bookmarks": {"a": {"id": 7}, "b": {"id": 4}}}

    refresh = job.run({"streams": ["a"], "records": 2}, None, "--full-refresh")
    assert refresh.code == 0, refresh.stderr
    assert "state received {}" in refresh.stderr
    assert job.committed() == {"bookmarks": {"a": {"id": 2}, "b": {"id": 4}}}


def test_concurrent_runs_on_one_state_key_are_refused(tmp_path: Path, job):
    job.configs({"records": 100000, "sleep": 0.002, "state_every": 5})
    slow = subprocess.Popen(
        job.argv(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(job.out.exists, "the first run's target to start writing")
        second = run_cli(
            *job.argv()[3:],
            cwd=tmp_path,
        )
        assert second.code == 5
        assert "another run holds the lock" in second.stderr
        assert f"pid {slow.pid}" in second.stderr
    finally:
        slow.send_signal(signal.SIGTERM)
        slow.wait(WAIT_S)
    assert slow.returncode == 130


def test_malformed_line_fails_with_connector_line_and_excerpt(job):
    result = job.run({"records": 30, "state_every": 5, "malformed_at": 12})
    assert result.code == 4
    # SCHEMA is line 1, then 12 records and 2 STATEs: the bad line is line 16.
    assert "line 16 is not valid JSON" in result.stderr
    assert "fake_tap" in result.stderr and '"stream": oops' in result.stderr
    assert len(job.records()) == 12  # what came before was delivered and flushed
    assert job.committed() == {"bookmarks": {"users": {"id": 10}}}


def test_oversized_line_fails_clearly(job):
    result = job.run(
        {"records": 30, "huge_line_at": 3, "huge_line_bytes": 5000},
        None,
        "--max-line-bytes",
        "1000",
    )
    assert result.code == 4
    assert "longer than the limit of 1,000 bytes" in result.stderr
    assert "--max-line-bytes" in result.stderr


def test_secrets_never_reach_the_logs(job):
    result = job.run({"records": 3, "api_key": "sk-live-abcdef123456"}, {"password": "hunter2-pw"})
    assert result.code == 0
    assert "sk-live-abcdef123456" not in result.stderr + result.stdout
    assert "hunter2-pw" not in result.stderr + result.stdout
    assert "connecting with key ***" in result.stderr


def test_missing_tap_is_a_config_error_with_suggestion(tmp_path: Path):
    result = run_cli("run", "--tap", "no-such-tap-xyz", "--target", FAKE_TARGET, cwd=tmp_path)
    assert result.code == 2
    assert "no tap called 'no-such-tap-xyz'" in result.stderr


def test_flow_file_with_env_vars(tmp_path: Path):
    flow = tmp_path / "flow.yml"
    flow.write_text(
        f"""
name: envflow
source:
  connector: {FAKE_TAP}
  config: {{records: 3, api_key: "${{FAKE_KEY}}"}}
targets:
  - connector: {FAKE_TARGET}
    config: {{output: out.jsonl}}
"""
    )
    missing = run_cli("run", str(flow), cwd=tmp_path, env={"FAKE_KEY": ""} | {})
    # FAKE_KEY is set (empty) here, so the run works; unset it for the error case below.
    assert missing.code == 0, missing.stderr
    env = {k: v for k, v in os.environ.items() if k != "FAKE_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "glue_runtime", "run", str(flow)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "source.config.api_key uses ${FAKE_KEY}" in proc.stderr
    assert "FAKE_KEY is not set" in proc.stderr

    ok = run_cli("run", str(flow), cwd=tmp_path, env={"FAKE_KEY": "k-999999"})
    assert ok.code == 0, ok.stderr
    assert "k-999999" not in ok.stderr
    state = json.loads((tmp_path / ".glue" / "state" / "envflow.json").read_text())
    assert state == {"bookmarks": {"users": {"id": 6}}}  # two runs: 3 + 3 records
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 6  # connectors ran in the flow's folder


def test_state_commands(tmp_path: Path, job):
    assert job.run({"streams": ["a", "b"], "records": 2}).code == 0
    shown = run_cli("state", "show", "--state-file", str(job.state), cwd=tmp_path)
    assert json.loads(shown.stdout) == {"bookmarks": {"a": {"id": 2}, "b": {"id": 2}}}

    cleared = run_cli(
        "state", "clear", "--stream", "a", "--state-file", str(job.state), cwd=tmp_path
    )
    assert cleared.code == 0
    assert job.committed() == {"bookmarks": {"b": {"id": 2}}}

    value = '{"bookmarks": {"a": {"id": 100}}}'
    assert (
        run_cli("state", "set", "k1", "--value", value, "--state-dir", "st", cwd=tmp_path).code == 0
    )
    assert (
        run_cli("state", "set", "k2", "--value", "{}", "--state-dir", "st", cwd=tmp_path).code == 0
    )
    listed = run_cli("state", "list", "--state-dir", "st", cwd=tmp_path)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["k1", "k2"]
    assert "a" in listed.stdout.splitlines()[0]

    bad = run_cli("state", "set", "k1", "--value", "{oops", "--state-dir", "st", cwd=tmp_path)
    assert bad.code == 2 and "not valid JSON" in bad.stderr
    assert json.loads((tmp_path / "st" / "k1.json").read_text()) == {
        "bookmarks": {"a": {"id": 100}}
    }


@pytest.mark.parametrize(
    "name",
    sorted(
        p.stem
        for p in (
            Path(__import__("singer_sdk").__file__).parent / "testing" / "target_test_streams"
        ).glob("*.singer")
    ),
)
def test_sdk_target_test_streams_arrive_unchanged(tmp_path: Path, name: str):
    src = Path(__import__("singer_sdk").__file__).parent / "testing" / "target_test_streams"
    source = src / f"{name}.singer"
    out = tmp_path / "captured.jsonl"
    result = glue_runtime.run(
        str(SINGER / "replay_tap.py"),
        FAKE_TARGET,
        tap_config={"input": str(source)},
        target_config={"output": str(out), "capture_all": True},
        state_file=tmp_path / "state.json",
    )
    assert result.ok, result.error
    sent = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    assert read_jsonl(out) == sent


def test_unchanged_messages_pass_byte_for_byte(tmp_path: Path):
    """Big integers and long decimals are not rounded through a float on their way."""
    lines = [
        '{"type":"SCHEMA","stream":"n","schema":{"type":"object"},"key_properties":[]}',
        '{"type":"RECORD","stream":"n","record":{"big":123456789012345678901234567890,'
        '"dec":0.1000000000000000055511151231257827}}',
        '{"type":"STATE","value":{"bookmarks":{"n":{"v":1}}}}',
    ]
    source = tmp_path / "in.singer"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "captured.jsonl"
    result = glue_runtime.run(
        str(SINGER / "replay_tap.py"),
        FAKE_TARGET,
        tap_config={"input": str(source)},
        target_config={"output": str(out), "capture_all": True},
        state_file=tmp_path / "state.json",
    )
    assert result.ok, result.error
    assert out.read_text().splitlines() == lines


def test_connector_files_are_private_and_removed(tmp_path: Path, job):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    job.configs({"records": 2})
    result = run_cli(
        *job.argv()[3:],
        cwd=tmp_path,
        env={"TMPDIR": str(tmp)},
    )
    assert result.code == 0, result.stderr
    assert list(tmp.iterdir()) == []


def test_json_logs_and_json_result(job):
    job.configs({"streams": ["a", "b"], "records": 3})
    result = run_cli(
        "--log-format",
        "json",
        "run",
        "--tap",
        FAKE_TAP,
        "--target",
        FAKE_TARGET,
        "--tap-config",
        "tap.json",
        "--target-config",
        "target.json",
        "--state-file",
        "state.json",
        "--json",
        cwd=job.dir,
    )
    assert result.code == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    ends = {e["stream"]: e for e in events if e.get("event") == "stream_end"}
    assert ends["a"]["records_in"] == 3 and ends["b"]["records_out"] == 3
    assert any(e.get("connector", "").startswith("tap-") for e in events)
    summary = json.loads(result.stdout)
    assert summary["status"] == "success"
    assert summary["streams"]["a"] == {
        "records_in": 3,
        "records_out": 3,
        "schemas": 1,
        "dropped_fields": 0,
    }
    assert summary["state"] == {"bookmarks": {"a": {"id": 3}, "b": {"id": 3}}}


def _failing_stage(at_id: int, error: Exception):
    def stage(messages):
        for msg in messages:
            if msg["type"] == "RECORD" and msg["record"]["id"] == at_id:
                raise error
            yield msg

    return stage


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (glue_runtime.TransformError("stage failed on users record 13"), glue_runtime.DataError),
        (ZeroDivisionError("bug"), glue_runtime.GlueError),
    ],
)
def test_a_failing_stage_lets_targets_flush_what_came_before(tmp_path: Path, error, kind):
    out = tmp_path / "out.jsonl"
    result = glue_runtime.run(
        FAKE_TAP,
        FAKE_TARGET,
        tap_config={"records": 1000, "state_every": 5},
        target_config={"output": str(out)},
        state_file=tmp_path / "state.json",
        stages=[_failing_stage(13, error)],
    )
    assert result.status == "failed" and isinstance(result.error, kind)
    assert len(read_jsonl(out)) == 12
    assert result.state == {"bookmarks": {"users": {"id": 10}}}
    assert result.exit_code == result.error.exit_code != 0
    with pytest.raises(kind):
        result.raise_for_status()


PROGRESS = re.compile(r"users: [\d,]+ \([\d,]+/s\)")


def test_live_progress_line_on_a_terminal(tmp_path: Path, job):
    """With stderr on a terminal, a progress line with records/s is redrawn in place."""
    import pty

    # The tap holds the job open until the test has seen a progress line (no race with the
    # one-second redraw interval).
    seen = tmp_path / "progress-seen"
    job.configs({"records": 400, "state_every": 50, "hold_until": str(seen)})
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        job.argv(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
        if not seen.exists() and PROGRESS.search(b"".join(chunks).decode(errors="replace")):
            seen.touch()
    proc.wait(WAIT_S)
    os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen
    assert "\r\x1b[K" in screen
    assert PROGRESS.search(screen)


def test_a_tap_config_update_is_saved_to_its_source_file(tmp_path: Path):
    (tmp_path / "tap.json").write_text(
        json.dumps({"records": 2, "rotate_token": True, "refresh_token": "rt-first-one"})
    )
    (tmp_path / "flow.yml").write_text(
        f"name: oauth\nsource: {{connector: {FAKE_TAP}, config_file: tap.json}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config: {{output: out.jsonl}}}}]\n"
    )
    first = run_cli("run", "flow.yml", cwd=tmp_path)
    assert first.code == 0, first.stderr
    saved = json.loads((tmp_path / "tap.json").read_text())
    assert saved["refresh_token"] == "rt-first-one-next"
    assert "updated its config (refresh_token); saved to" in first.stderr
    assert "rt-first-one" not in first.stderr  # old and new tokens are both masked
    second = run_cli("run", "flow.yml", cwd=tmp_path)
    assert second.code == 0
    assert json.loads((tmp_path / "tap.json").read_text())["refresh_token"] == (
        "rt-first-one-next-next"
    )


def test_a_tap_config_update_with_inline_config_warns(tmp_path: Path, caplog):
    result = glue_runtime.run(
        FAKE_TAP,
        FAKE_TARGET,
        tap_config={"records": 1, "rotate_token": True},
        target_config={"output": str(tmp_path / "o.jsonl")},
        state_file=tmp_path / "s.json",
    )
    assert result.ok
    assert "updated its config (refresh_token) but the config was given inline" in caplog.text


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
