"""Issue 10: named errors instead of tracebacks (exit 1 is reserved for bugs).

State lock and state file faults (a folder in the lock's place, a read-only or full disk, a
symlinked state file, a state that is not an object, JSON nested 10,000 deep), the CLI's
--log-level and signals outside a running job, RECORDs that come before their SCHEMA, and a
target that confirms no STATE. Real connector processes throughout (tests/singer/).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from glue_test_helpers import FAKE_TAP, FAKE_TARGET, SINGER, read_jsonl, run_cli, write_json

import glue_runtime
from glue_runtime import protocol
from glue_runtime.cli import main as cli_main
from glue_runtime.errors import NestedTooDeep, RecordBeforeSchema, StateError, StateLocked
from glue_runtime.state import FileStateStore, SingleFileStateStore, StateLock

REVIEW_TAP = str(SINGER / "review_tap.py")
REVIEW_TARGET = str(SINGER / "review_target.py")
WAIT_S = 60  # generous bound for events the tests wait for (never a fixed sleep)


def line(msg: dict[str, Any]) -> str:
    return json.dumps(msg) + "\n"


def schema(stream: str) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "key_properties": ["id"],
    }


def rec(i: int, stream: str) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": {"id": i}}


def state_msg(value: Any) -> dict[str, Any]:
    return {"type": "STATE", "value": value}


def emit(*msgs: dict[str, Any]) -> list[list[Any]]:
    return [["out", line(m)] for m in msgs]


def review_run(
    tmp_path: Path, steps: list[list[Any]], target: dict[str, Any] | None = None, *extra: str
) -> list[str]:
    """CLI arguments for a run of the scripted review tap into the review target."""
    write_json(tmp_path / "tap.json", {"steps": steps})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl"), **(target or {})})
    return [
        "run", "--tap", REVIEW_TAP, "--target", REVIEW_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", *extra,
    ]  # fmt: skip


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def deep_json(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def wait_for(path: Path, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{what}: {path} never appeared"
        time.sleep(0.01)


def assert_named(result: Any, code: int) -> None:
    assert result.code == code, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


# == the state lock cannot be created ==========================================================


def test_lock_path_that_is_a_folder_is_a_state_error_naming_it(tmp_path: Path):
    (tmp_path / "state.json.lock").mkdir()
    with pytest.raises(StateError, match=r"state\.json\.lock: the lock path is a folder") as exc:
        SingleFileStateStore(tmp_path / "state.json").lock("k").acquire()
    assert "remove the folder" in str(exc.value)

    r = run_cli(*review_run(tmp_path, emit(schema("s")), None, "--state-file", "state.json"),
                cwd=tmp_path)  # fmt: skip
    assert_named(r, 5)
    assert "cannot lock state key" in r.stderr and "state.json.lock" in r.stderr
    assert not (tmp_path / "out.jsonl").exists()  # nothing ran

    result = glue_runtime.run(
        REVIEW_TAP,
        REVIEW_TARGET,
        tap_config={"steps": emit(schema("s"))},
        target_config={"output": str(tmp_path / "out.jsonl")},
        state_file=tmp_path / "state.json",
    )
    assert isinstance(result.error, StateError) and result.exit_code == 5


def _in_mount_namespace(mount: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run argv in a user + mount namespace after a mount command (a real read-only or full
    file system, which root cannot get from chmod)."""
    script = f"{mount} && exec {' '.join(map(_quote, argv))}"
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _namespaces_work(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    r = _in_mount_namespace(f"mount -t tmpfs -o size=64k tmpfs {probe}", ["true"], tmp_path)
    return r.returncode == 0


def _glue(*args: str) -> list[str]:
    return [sys.executable, "-m", "glue_runtime", *args]


def test_read_only_state_folder_is_a_state_error(tmp_path: Path):
    if not _namespaces_work(tmp_path):
        pytest.skip("needs unshare -rm (user and mount namespaces) for a read-only mount")
    ro = tmp_path / "ro"
    ro.mkdir()
    argv = review_run(tmp_path, emit(schema("s")), None, "--state-dir", str(ro))
    r = _in_mount_namespace(f"mount -o bind,ro {ro} {ro}", _glue(*argv), tmp_path)
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr
    assert "cannot lock state key" in r.stderr
    assert "read-only" in r.stderr and "--state-dir" in r.stderr


def test_full_disk_is_a_state_error_not_a_traceback(tmp_path: Path):
    if not _namespaces_work(tmp_path):
        pytest.skip("needs unshare -rm (user and mount namespaces) for a small tmpfs")
    full = tmp_path / "full"
    full.mkdir()
    steps = emit(schema("s"), rec(1, "s"), state_msg({"bookmarks": {"s": 1}}))
    argv = review_run(tmp_path, steps, None, "--state-dir", str(full))
    # No inode left: the lock file cannot be created at all.
    no_inodes = f"mount -t tmpfs -o size=64k,nr_inodes=2 tmpfs {full} && touch {full}/x"
    r = _in_mount_namespace(no_inodes, _glue(*argv), tmp_path)
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr
    assert "cannot lock state key" in r.stderr and "disk is full" in r.stderr
    # No byte left: the lock file is created but its pid cannot be written (a traceback
    # before); the lock holds without it, and the state write fails by name.
    no_space = (
        f"mount -t tmpfs -o size=64k tmpfs {full} && "
        f"(dd if=/dev/zero of={full}/fill bs=4k 2>/dev/null; true)"
    )
    r = _in_mount_namespace(no_space, _glue(*argv), tmp_path)
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr
    assert "cannot write state file" in r.stderr and "disk has room" in r.stderr


# == nesting 10,000 deep =========================================================================


def test_loads_and_dumps_exact_name_deep_nesting():
    with pytest.raises(NestedTooDeep, match="nested too deep to read"):
        protocol.loads_exact(deep_json(10_000))
    with pytest.raises(ValueError):  # what callers that parse JSON already catch
        protocol.loads_exact(deep_json(10_000))
    with pytest.raises(NestedTooDeep, match="STATE message: a value nested too deep to write"):
        protocol.dump(state_msg(nested(1010)))
    assert protocol.loads_exact(deep_json(200)) == nested(200)


@pytest.mark.parametrize("depth", [1010, 10_000])
def test_state_file_nested_deep_is_a_state_error(tmp_path: Path, depth: int):
    # 1,010 levels: orjson reads it, but it cannot be written back (to the tap, or committed).
    (tmp_path / "state.json").write_text(deep_json(depth))
    with pytest.raises(StateError, match=r"state\.json is not valid JSON \(.*nested too deep"):
        SingleFileStateStore(tmp_path / "state.json").get("state")
    r = run_cli(*review_run(tmp_path, emit(schema("s")), None, "--state-file", "state.json"),
                cwd=tmp_path)  # fmt: skip
    assert_named(r, 5)
    assert "state.json is not valid JSON" in r.stderr and "nested too deep" in r.stderr


@pytest.mark.parametrize("depth", [1010, 10_000])
def test_target_line_nested_deep_is_ignored_with_a_warning(tmp_path: Path, depth: int):
    steps = emit(schema("s"), rec(1, "s"), state_msg({"bookmarks": {"s": 1}}))
    target = {"stdout_lines": [deep_json(depth)]}
    r = run_cli(*review_run(tmp_path, steps, target, "--state-file", "state.json"), cwd=tmp_path)
    assert_named(r, 0)
    assert "stdout line 1 is" in r.stderr and "ignored" in r.stderr
    assert json.loads((tmp_path / "state.json").read_text()) == {"bookmarks": {"s": 1}}


def test_tap_state_nested_too_deep_to_write_is_a_data_error_naming_the_line(tmp_path: Path):
    deep_state = '{"type": "STATE", "value": ' + deep_json(1010) + "}\n"
    steps = [*emit(schema("s"), rec(1, "s")), ["out", deep_state]]
    r = run_cli(*review_run(tmp_path, steps, None, "--state-file", "state.json"), cwd=tmp_path)
    assert_named(r, 4)
    assert "review_tap.py: line 3: a value nested too deep to write" in r.stderr


def test_a_record_too_deep_to_write_after_a_stage_changed_it_is_a_data_error(tmp_path: Path):
    # orjson reads 1,010 levels; a record a stage rewrote is written by the stdlib, which cannot.
    (tmp_path / "etl.py").write_text(
        "def transform(record, ctx):\n    return {**record, 'id': 2}\n"
    )
    deep_rec = '{"type": "RECORD", "stream": "s", "record": {"id": 1, "d": ' + deep_json(1010)
    steps = [*emit(schema("s")), ["out", deep_rec + "}}\n"]]
    argv = review_run(tmp_path, steps, None, "--state-file", "state.json", "--etl", "etl.py")
    r = run_cli(*argv, cwd=tmp_path)
    assert_named(r, 4)
    assert "line 2: RECORD message for stream 's': a value nested too deep to write" in r.stderr


# == a symlinked --state-file ====================================================================


def test_commit_through_a_symlinked_state_file_writes_the_real_file(tmp_path: Path):
    real = tmp_path / "real" / "state.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"bookmarks": {"old": 1}}))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    steps = emit(schema("s"), rec(1, "s"), state_msg({"bookmarks": {"s": 7}}))
    r = run_cli(*review_run(tmp_path, steps, None, "--state-file", "link.json"), cwd=tmp_path)
    assert_named(r, 0)
    assert link.is_symlink() and link.resolve() == real  # the link is kept
    assert json.loads(real.read_text()) == {"bookmarks": {"old": 1, "s": 7}}
    assert (real.parent / "state.json.lock").exists()  # the lock sits by the real file
    assert not (tmp_path / "link.json.lock").exists()
    assert not [p for p in real.parent.iterdir() if p.name.endswith(".tmp")]

    store = SingleFileStateStore(link)  # clearing through the link keeps the link too
    assert store.clear("link")
    assert link.is_symlink() and not real.exists()


def test_a_link_and_its_file_share_one_lock(tmp_path: Path):
    real = tmp_path / "state.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert StateLock(link, "k").path == StateLock(real, "k").path
    with SingleFileStateStore(link).lock("k"), pytest.raises(StateLocked):
        SingleFileStateStore(real).lock("k").acquire()


@pytest.mark.parametrize("first", ["link", "real"])
def test_runs_through_a_link_and_on_the_real_file_exclude_each_other(tmp_path: Path, first: str):
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)
    paths = {"link": "link.json", "real": "real.json"}
    second = "real" if first == "link" else "link"
    go = tmp_path / "go"
    steps = [
        *emit(schema("s"), rec(1, "s")),
        ["err", "holding the lock"],
        ["wait_file", str(go), "go", WAIT_S],
        *emit(state_msg({"bookmarks": {"s": 1}})),
    ]
    argv = review_run(tmp_path, steps, None, "--state-file", paths[first])
    holder = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", *argv],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stderr is not None
        for text in holder.stderr:  # the tap runs: its run holds the lock
            if "holding the lock" in text:
                break
        write_json(tmp_path / "tap2.json", {"steps": emit(schema("s"))})
        r = run_cli(
            "run", "--tap", REVIEW_TAP, "--target", REVIEW_TARGET, "--tap-config", "tap2.json",
            "--target-config", "target.json", "--state-file", paths[second], cwd=tmp_path,
        )  # fmt: skip
        assert_named(r, 5)
        assert "another run holds the lock" in r.stderr and f"pid {holder.pid}" in r.stderr
    finally:
        go.write_text("go")
        holder.communicate(timeout=WAIT_S)
    assert holder.returncode == 0
    assert not real.is_symlink() and link.is_symlink()
    assert json.loads(real.read_text()) == {"bookmarks": {"s": 1}}


# == a state that is not an object =============================================================


@pytest.mark.parametrize("text", ["[1, 2]", "5", '"abc"', "true"])
def test_state_file_that_is_not_an_object_is_a_state_error(tmp_path: Path, text: str):
    (tmp_path / "state.json").write_text(text)
    with pytest.raises(StateError, match=r"state\.json holds a JSON \w+, not an object"):
        SingleFileStateStore(tmp_path / "state.json").get("state")
    r = run_cli(*review_run(tmp_path, emit(schema("s")), None, "--state-file", "state.json"),
                cwd=tmp_path)  # fmt: skip
    assert_named(r, 5)
    assert "state.json holds a JSON" in r.stderr and "glue state" in r.stderr
    assert not (tmp_path / "out.jsonl").exists()  # the tap never got it

    result = glue_runtime.run(
        REVIEW_TAP,
        REVIEW_TARGET,
        tap_config={"steps": emit(schema("s"))},
        target_config={"output": str(tmp_path / "out.jsonl")},
        state_file=tmp_path / "state.json",
    )
    assert result.status == "failed" and isinstance(result.error, StateError)
    assert (tmp_path / "state.json").read_text() == text  # left for the user to fix


def test_directory_store_refuses_a_non_object_state_too(tmp_path: Path):
    (tmp_path / "k.json").write_text("[1, 2]")
    with pytest.raises(StateError, match="holds a JSON array"):
        FileStateStore(tmp_path).get("k")


# == the CLI: --log-level, Ctrl-C during start-up, SIGTERM after the job ==========================


def test_unknown_log_level_is_a_usage_error_listing_the_choices():
    runner = CliRunner()
    r = runner.invoke(cli_main, ["--log-level", "LOUD", "exit-codes"])
    assert r.exit_code == 2
    assert "'LOUD' is not one of 'debug', 'info', 'warning', 'error'" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    r = runner.invoke(cli_main, ["--log-level", "DEBUG", "exit-codes"])  # any case
    assert r.exit_code == 0, r.output


def test_unknown_log_level_through_the_real_cli(tmp_path: Path):
    r = run_cli("--log-level", "LOUD", "exit-codes", cwd=tmp_path)
    assert r.code == 2 and "Traceback" not in r.stderr
    assert "'LOUD' is not one of" in r.stderr and "'debug'" in r.stderr


def _start_run_blocked_in_discovery(tmp_path: Path) -> subprocess.Popen:
    marker = tmp_path / "discovering"
    catalog = {"streams": []}
    write_json(tmp_path / "tap.json", {"discover_marker": str(marker), "catalog": catalog})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    (tmp_path / "fm.yml").write_text("s: '*'\n")
    proc = subprocess.Popen(
        _glue(
            "run",
            "--tap",
            REVIEW_TAP,
            "--target",
            REVIEW_TARGET,
            "--tap-config",
            "tap.json",
            "--target-config",
            "target.json",
            "--field-map",
            "fm.yml",
            "--state-file",
            "state.json",
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(marker, "the tap's discovery")
    return proc


@pytest.mark.parametrize(
    "sigs", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT] * 3], ids=["int", "term", "int*3"]
)
def test_a_signal_during_start_up_exits_130_with_a_short_message(tmp_path: Path, sigs: list):
    proc = _start_run_blocked_in_discovery(tmp_path)
    for sig in sigs:  # Ctrl-C pressed again while it exits changes nothing
        proc.send_signal(sig)
    sig = sigs[0]
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130, stderr
    name = signal.Signals(sig).name
    assert f"interrupted by {name} during start-up" in stderr
    assert "Aborted!" not in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "state.json").exists()


_AFTER_FINISH = textwrap.dedent(
    """
    # A job whose state lock release waits: a point after the job has finished (targets done,
    # state written) but before its clean-up, that a test can wait for.
    import json, os, sys, time
    from glue_runtime.connectors import resolve
    from glue_runtime.runner import run_job
    from glue_runtime.spec import Endpoint, JobSpec
    from glue_runtime.state import FileStateStore

    mark, go, out, state_dir = sys.argv[1:5]

    class Store(FileStateStore):
        def release(self, lease):
            open(mark, "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.01)
            super().release(lease)

    result = run_job(JobSpec(
        tap=Endpoint(resolve(sys.argv[5], "tap"), {"records": 3, "state_every": 1}),
        targets=[Endpoint(resolve(sys.argv[6], "target"), {"output": out})],
        store=Store(state_dir),
        state_key="k",
    ))
    print(json.dumps({"status": result.status, "commits": result.state_commits}))
    sys.exit(result.exit_code)
    """
)


def test_sigterm_after_the_job_finished_keeps_summary_cleanup_and_exit_code(tmp_path: Path):
    temp = tmp_path / "tmp"  # the connectors' temp folders (their configs) go here
    temp.mkdir()
    mark, go = tmp_path / "mark", tmp_path / "go"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _AFTER_FINISH,
            str(mark),
            str(go),
            str(tmp_path / "out.jsonl"),
            str(tmp_path / "st"),
            FAKE_TAP,
            FAKE_TARGET,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    wait_for(mark, "the job's end")
    proc.send_signal(signal.SIGTERM)
    go.write_text("go")
    stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, stderr  # the job's own code, not 143
    reported = json.loads(stdout)
    assert reported["status"] == "success" and reported["commits"] >= 1
    assert "SIGTERM received after the job finished" in stderr
    assert list(temp.iterdir()) == []  # the temp folders were removed
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3


# == RECORD before its SCHEMA ==================================================================


def test_schema_less_records_pass_with_one_warning_per_stream(tmp_path: Path):
    steps = emit(
        rec(1, "a"), rec(2, "a"), rec(1, "b"), schema("a"), rec(3, "a"), rec(2, "b"),
        state_msg({"bookmarks": {"a": 3}}),
    )  # fmt: skip
    r = run_cli(
        *review_run(tmp_path, steps, None, "--state-file", "state.json", "--json"), cwd=tmp_path
    )
    assert_named(r, 0)
    assert r.stderr.count("before any SCHEMA") == 2  # once per stream, not per record
    assert "line 1: RECORD for stream 'a' came before any SCHEMA" in r.stderr
    assert "line 3: RECORD for stream 'b' came before any SCHEMA" in r.stderr
    out = json.loads(r.stdout)
    assert len(out["warnings"]) == 2 and out["records_out"] == 5
    sent = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [m["type"] for m in sent][:3] == ["RECORD", "RECORD", "RECORD"]  # passed on as is


def test_schema_less_record_through_the_api_is_a_warning(tmp_path: Path):
    result = glue_runtime.run(
        REVIEW_TAP,
        REVIEW_TARGET,
        tap_config={"steps": emit(rec(1, "ghost"), state_msg({"bookmarks": {}}))},
        target_config={"output": str(tmp_path / "out.jsonl")},
        state_file=tmp_path / "state.json",
    )
    assert result.ok
    assert [w for w in result.warnings if "stream 'ghost' came before any SCHEMA" in w]


ETL_SCRIPT = "def transform(record, ctx):\n    return record\n"
MAPS = "stream_maps:\n  a:\n    id2: id\n"


@pytest.mark.parametrize(
    ("name", "text"), [("etl.py", ETL_SCRIPT), ("maps.yml", MAPS)], ids=["script", "maps"]
)
def test_schema_less_record_fails_where_a_stage_needs_the_schema(
    tmp_path: Path, name: str, text: str
):
    (tmp_path / name).write_text(text)
    steps = emit(schema("b"), rec(1, "b"), rec(1, "a"), state_msg({"bookmarks": {"a": 1}}))
    r = run_cli(
        *review_run(tmp_path, steps, None, "--state-file", "state.json", "--etl", name),
        cwd=tmp_path,
    )
    assert_named(r, 4)
    assert "review_tap.py: line 3: RECORD for stream 'a' arrived before any SCHEMA" in r.stderr
    assert "needs the stream's schema" in r.stderr
    assert not (tmp_path / "state.json").exists()  # no state past the bad line

    result = glue_runtime.run(
        REVIEW_TAP,
        REVIEW_TARGET,
        tap_config={"steps": steps},
        target_config={"output": str(tmp_path / "out2.jsonl")},
        state_file=tmp_path / "state2.json",
        etl=tmp_path / name,
    )
    assert isinstance(result.error, RecordBeforeSchema) and result.exit_code == 4


# == a target that confirms no STATE ===========================================================


def test_target_confirming_no_state_succeeds_with_a_warning(tmp_path: Path):
    steps = emit(schema("s"), rec(1, "s"), state_msg({"bookmarks": {"s": 1}}))
    argv = review_run(tmp_path, steps, {"confirm": "none"}, "--state-file", "state.json")
    r = run_cli(*argv, cwd=tmp_path)
    assert_named(r, 0)
    assert "SUCCESS" in r.stderr
    assert "warning: bookmarks did not move" in r.stderr
    assert "target-review_target.py emitted no state on its stdout" in r.stderr
    assert not (tmp_path / "state.json").exists()

    r = run_cli(*argv, "--json", cwd=tmp_path)
    out = json.loads(r.stdout)
    assert out["status"] == "success"
    assert [w for w in out["warnings"] if w.startswith("bookmarks did not move")]

    result = glue_runtime.run(
        REVIEW_TAP,
        REVIEW_TARGET,
        tap_config={"steps": steps},
        target_config={"output": str(tmp_path / "o.jsonl"), "stdout_lines": ["hello"],
                       "confirm": "none"},
        state_file=tmp_path / "state.json",
    )  # fmt: skip
    assert result.ok
    assert result.warnings == [
        "bookmarks did not move: the tap sent 1 STATE message(s) but target-review_target.py wrote 1 "
        "stdout line(s), none of them a STATE this job sent. Only STATE a target confirms is "
        "committed, so the next run starts from the same bookmarks"
    ]


def test_no_warning_when_the_target_confirms_or_the_tap_sends_no_state(tmp_path: Path):
    for steps in (
        emit(schema("s"), rec(1, "s"), state_msg({"bookmarks": {"s": 1}})),
        emit(schema("s"), rec(1, "s")),
    ):
        result = glue_runtime.run(
            REVIEW_TAP,
            REVIEW_TARGET,
            tap_config={"steps": steps},
            target_config={"output": str(tmp_path / "o.jsonl")},
            state_file=tmp_path / "state.json",
        )
        assert result.ok and result.warnings == []


# == the same fault class elsewhere: files the user names ======================================


def test_flow_and_field_map_nested_deep_are_config_errors(tmp_path: Path):
    (tmp_path / "flow.yml").write_text("[" * 10_000 + "]" * 10_000)
    r = run_cli("run", "flow.yml", cwd=tmp_path)
    assert_named(r, 2)
    assert "flow file flow.yml is nested too deep" in r.stderr
    (tmp_path / "fm.yml").write_text("[" * 10_000 + "]" * 10_000)
    write_json(tmp_path / "cat.json", {"streams": []})
    r = run_cli("fieldmap", "check", "fm.yml", "--catalog", "cat.json", cwd=tmp_path)
    assert_named(r, 2)
    assert "field map fm.yml is nested too deep" in r.stderr


def test_unwritable_output_files_are_usage_errors(tmp_path: Path):
    catalog = {"streams": [{"tap_stream_id": "s", "stream": "s", "schema": {"type": "object",
               "properties": {"id": {"type": "integer"}}}, "metadata": []}]}  # fmt: skip
    write_json(tmp_path / "cat.json", catalog)
    (tmp_path / "afile").write_text("")
    r = run_cli("fieldmap", "init", "--catalog", "cat.json", "-o", "afile/fm.yml", cwd=tmp_path)
    assert_named(r, 2)
    assert "cannot write the field map to afile/fm.yml" in r.stderr
    write_json(tmp_path / "tap.json", {"catalog": catalog})
    r = run_cli("discover", REVIEW_TAP, "--config", "tap.json", "-o", "afile/c.json", cwd=tmp_path)
    assert_named(r, 2)
    assert "cannot write the catalog to afile/c.json" in r.stderr


def test_config_file_that_is_a_folder_is_a_config_error(tmp_path: Path):
    (tmp_path / "cfg").mkdir()
    with pytest.raises(glue_runtime.GlueError, match=r"cannot read tap config .*cfg"):
        glue_runtime.run(FAKE_TAP, FAKE_TARGET, tap_config=tmp_path / "cfg")
    (tmp_path / "deep.json").write_text(deep_json(10_000))
    with pytest.raises(glue_runtime.GlueError, match=r"deep\.json is not valid JSON.*too deep"):
        glue_runtime.run(FAKE_TAP, FAKE_TARGET, tap_config=tmp_path / "deep.json")


def test_schema_less_record_under_a_field_map_passes_with_a_warning(tmp_path: Path):
    # The field map has the stream's schema from the catalog: it does not need the SCHEMA.
    props = {"id": {"type": "integer"}, "x": {"type": "string"}}
    catalog = {"streams": [{"tap_stream_id": "a", "stream": "a", "metadata": [],
               "schema": {"type": "object", "properties": props}}]}  # fmt: skip
    (tmp_path / "fm.yml").write_text("streams:\n  a: [id]\n")
    result = glue_runtime.run(
        REVIEW_TAP,
        REVIEW_TARGET,
        tap_config={"steps": [["out", line({**rec(1, "a"), "record": {"id": 1, "x": "y"}})]]},
        target_config={"output": str(tmp_path / "out.jsonl")},
        state_file=tmp_path / "state.json",
        catalog=catalog,
        field_map=tmp_path / "fm.yml",
    )
    assert result.ok, result.error
    assert [w for w in result.warnings if "stream 'a' came before any SCHEMA" in w]
    assert read_jsonl(tmp_path / "out.jsonl") == [rec(1, "a")]  # selected fields only


def test_state_list_shows_a_bad_state_file_and_the_other_keys(tmp_path: Path):
    store = FileStateStore(tmp_path / "st")
    store.set("good", {"bookmarks": {"s": 1}})
    (tmp_path / "st" / "bad.json").write_text("[1, 2]")
    r = run_cli("state", "list", "--state-dir", "st", cwd=tmp_path)
    assert_named(r, 0)
    assert "bad\t" in r.stdout and "(unreadable: state file" in r.stdout
    assert "good\t" in r.stdout and "\ts" in r.stdout


def test_discovery_in_a_read_only_folder_still_gives_the_catalog(tmp_path: Path):
    if not _namespaces_work(tmp_path):
        pytest.skip("needs unshare -rm (user and mount namespaces) for a read-only mount")
    ro = tmp_path / "ro"
    ro.mkdir()
    write_json(ro / "tap.json", {"catalog": {"streams": []}})
    argv = _glue("discover", REVIEW_TAP, "--config", "tap.json")
    r = _in_mount_namespace(f"mount -o bind,ro {ro} {ro} && cd {ro}", argv, ro)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "could not cache the catalog" in r.stderr
    assert json.loads(r.stdout) == {"streams": []}


def test_a_state_file_symlink_loop_is_a_state_error(tmp_path: Path):
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    r = run_cli(*review_run(tmp_path, emit(schema("s")), None, "--state-file", "loop.json"),
                cwd=tmp_path)  # fmt: skip
    assert_named(r, 5)
    assert "loop.json" in r.stderr and "symbolic links" in r.stderr
    with pytest.raises(StateError, match="cannot remove state file"):
        SingleFileStateStore(tmp_path / "loop.json").clear("loop")


def test_a_signal_while_a_batch_script_runs_stops_it_and_exits_130(tmp_path: Path):
    marker, pidfile = tmp_path / "etl-running", tmp_path / "etl.pid"
    (tmp_path / "etl.py").write_text(
        textwrap.dedent(f"""
        import os, signal
        open({str(pidfile)!r}, "w").write(str(os.getpid()))
        open({str(marker)!r}, "w").close()
        signal.pause()
        """)
    )
    write_json(tmp_path / "tap.json", {"steps": emit(schema("s"), rec(1, "s"))})
    (tmp_path / "flow.yml").write_text(
        textwrap.dedent(f"""
        name: batchy
        source: {{connector: {REVIEW_TAP}, config_file: tap.json}}
        etl: {{script: etl.py, mode: batch}}
        targets: [{{connector: {REVIEW_TARGET}, config: {{output: out.jsonl}}}}]
        """)
    )
    proc = subprocess.Popen(
        _glue("run", "flow.yml"), cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    wait_for(marker, "the batch ETL script")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130, stderr
    assert "interrupted by SIGINT between job phases" in stderr
    assert "Aborted!" not in stderr and "Traceback" not in stderr
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + WAIT_S
    while os.path.exists(f"/proc/{pid}") and "zombie" not in _proc_state(pid):
        assert time.monotonic() < deadline, "the batch ETL script outlived the run"
        time.sleep(0.01)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"  # gone meanwhile


def test_a_catalog_cache_entry_that_is_a_folder_is_discovered_again(tmp_path: Path):
    write_json(tmp_path / "tap.json", {"catalog": {"streams": []}})
    r = run_cli("discover", REVIEW_TAP, "--config", "tap.json", cwd=tmp_path)
    assert r.code == 0, r.stderr
    (cached,) = (tmp_path / ".glue" / "catalogs").glob("*.json")
    cached.unlink()
    cached.mkdir()  # unreadable as a file
    r = run_cli("discover", REVIEW_TAP, "--config", "tap.json", cwd=tmp_path)
    assert "Traceback" not in r.stderr
    assert r.code == 0, r.stderr
    assert "cannot be read" in r.stderr and "discovering again" in r.stderr
    assert "could not cache the catalog" in r.stderr  # the folder stays in the cache's place
    assert json.loads(r.stdout) == {"streams": []}


def test_catalog_file_that_is_a_folder_is_a_config_error(tmp_path: Path):
    from glue_runtime.catalog import load_catalog

    (tmp_path / "cat.json").mkdir()
    with pytest.raises(glue_runtime.GlueError, match=r"cannot read catalog file .*cat\.json"):
        load_catalog(tmp_path / "cat.json")
