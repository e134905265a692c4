"""What a newcomer runs into first: connector names, saved tap output, defaults, readable logs."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from glue_test_helpers import FAKE_TARGET, SINGER, CliResult, run_cli, write_json

from glue_runtime import connectors
from glue_runtime.errors import ConfigError, ConnectorNotFound
from glue_runtime.flow import load_flow
from glue_runtime.logs import ConnectorLines
from glue_runtime.runner import not_resumable


def _bin_with(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A folder holding an executable ``name`` that leaves a marker file when it runs."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    marker = tmp_path / f"{name}-ran"
    exe = bindir / name
    exe.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    exe.chmod(0o755)
    return bindir, marker


# -- bare connector names ------------------------------------------------------------------


def test_a_bare_name_never_runs_an_arbitrary_program_on_path(tmp_path: Path, monkeypatch):
    bindir, marker = _bin_with(tmp_path, "file")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ConnectorNotFound) as err:
        connectors.resolve("file", "tap")
    text = str(err.value)
    assert "did you mean 'files'?" in text
    assert f"{bindir / 'file'} is not a tap: a bare name means a registered connector" in text
    with pytest.raises(ConnectorNotFound):
        connectors.resolve("file", "target")
    # A path still runs anything.
    assert connectors.resolve(str(bindir / "file"), "tap").argv == [str(bindir / "file")]
    assert not marker.exists()


def test_cli_refuses_bare_program_names(tmp_path: Path):
    bindir, marker = _bin_with(tmp_path, "file")
    _, marker3 = _bin_with(tmp_path, "sqlite3")
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    write_json(tmp_path / "t.json", {"output": str(tmp_path / "o.jsonl")})
    ran = run_cli(
        "run", "--tap", "file", "--target", FAKE_TARGET, "--target-config", "t.json",
        "--state-file", "s.json", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert ran.code == 2, ran.stderr
    assert "no tap called 'file'" in ran.stderr and "did you mean 'files'?" in ran.stderr
    ran = run_cli(
        "run", "--tap", "files", "--target", "sqlite3", "--state-file", "s.json",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert ran.code == 2, ran.stderr
    assert "no target called 'sqlite3'" in ran.stderr and "'sqlite'" in ran.stderr
    about = run_cli("connectors", "about", "file", cwd=tmp_path, env=env)
    assert about.code == 2, about.stdout
    assert "did you mean 'files'?" in about.stderr
    assert not marker.exists() and not marker3.exists()
    listed = run_cli("connectors", "list", cwd=tmp_path, env=env)
    assert listed.code == 0
    assert not any(line.split()[0] in ("file", "sqlite3") for line in listed.stdout.splitlines())


# -- a readable default log -----------------------------------------------------------------

REVIEW_TAP = str(SINGER / "review_tap.py")
SDK_TS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \|")


def _sdk(level: str, logger: str, message: str) -> str:
    """A stderr line as singer-sdk writes it."""
    return f"2026-12-01 22:42:37,491 | {level:<8} | {logger:<30} | {message}"


TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/venv/site-packages/singer_sdk/tap_base.py", line 549, in invoke',
    "    tap = cls(",
    "          ^^^^",
    '  File "/venv/site-packages/tap_x/client.py", line 12, in get_records',
    "    raise SourceError(msg)",
    "tap_x.client.SourceError: the API said 401: check the token",
]


def _out(*msgs: dict[str, Any]) -> list[list[Any]]:
    return [["out", json.dumps(m) + "\n"] for m in msgs]


SCHEMA_S = {
    "type": "SCHEMA",
    "stream": "s",
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
    "key_properties": ["id"],
}


def _run_review_tap(tmp_path: Path, steps: list[list[Any]], *flags: str) -> CliResult:
    write_json(tmp_path / "tap.json", {"steps": steps})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    return run_cli(
        *flags, "run", "--tap", REVIEW_TAP, "--target", FAKE_TARGET, "--tap-config", "tap.json",
        "--target-config", "target.json", "--state-file", "state.json", cwd=tmp_path,
    )  # fmt: skip


def _chatty_failing_tap() -> list[list[Any]]:
    """singer-sdk's way: banner, METRICs, "Draining..." per batch, an error logged with its
    traceback, then the same traceback again as the exception leaves the program."""
    steps: list[list[Any]] = [
        ["err", _sdk("INFO", "tap-x", "tap-x v1.2.3, Meltano SDK v0.54.9")],
        ["err", _sdk("INFO", "tap-x", "Skipping parse of env var settings...")],
        *_out(SCHEMA_S, {"type": "RECORD", "stream": "s", "record": {"id": 1}}),
    ]
    for _ in range(30):
        steps.append(["err", _sdk("INFO", "tap-x", "Target sink for 's' is full. Draining...")])
        metric = 'METRIC: {"type":"counter","metric":"record_count","value":1}'
        steps.append(["err", _sdk("INFO", "singer_sdk.metrics", metric)])
    steps.append(["err", _sdk("ERROR", "tap-x", "the API said 401: check the token")])
    steps += [["err", t] for t in TRACEBACK] * 2
    steps.append(["exit", 1])
    return steps


def test_the_default_log_tells_a_connector_failure_once(tmp_path: Path):
    ran = _run_review_tap(tmp_path, _chatty_failing_tap())
    assert ran.code == 3, ran.stderr
    err = ran.stderr
    assert not SDK_TS.search(err), err  # one timestamp a line: ours
    assert "METRIC" not in err and "Meltano SDK" not in err and "Skipping parse" not in err
    assert err.count("[tap-review_tap.py] Target sink for 's' is full. Draining...") == 1, err
    assert "Traceback" not in err and 'File "' not in err, err
    # The error itself: logged once as it happened, then once in the failure report (the
    # exception line repeating it is left out), with a word on where the traceback went.
    assert err.count("the API said 401: check the token") == 2, err
    assert "lines of traceback left out: run with -v to see them" in err
    assert len(err.splitlines()) < 16, err


def test_verbose_shows_the_connector_traceback_and_metrics(tmp_path: Path):
    ran = _run_review_tap(tmp_path, _chatty_failing_tap(), "-v")
    assert ran.code == 3, ran.stderr
    assert ran.stderr.count("Traceback (most recent call last):") == 2
    assert 'File "/venv/site-packages/tap_x/client.py", line 12' in ran.stderr
    assert "METRIC" in ran.stderr
    assert ran.stderr.count("[tap-review_tap.py] Target sink for 's' is full. Draining...") == 30
    assert "DEBUG   [tap-review_tap.py]" in ran.stderr


def test_connector_lines_keep_their_level_and_lose_the_second_timestamp():
    lines = ConnectorLines()
    assert lines.classify(_sdk("WARNING", "tap-x.s", "slow API")) == (
        logging.WARNING, "slow API", True,
    )  # fmt: skip
    assert lines.classify(_sdk("ERROR", "tap-x", "boom")) == (logging.ERROR, "boom", True)
    assert lines.classify("INFO METRIC: {}") == (logging.DEBUG, "METRIC: {}", False)
    assert lines.classify("WARNING singer-python style") == (
        logging.WARNING, "singer-python style", True,
    )  # fmt: skip
    assert lines.classify("plain text")[:2] == (logging.INFO, "plain text")
    assert lines.classify("plain text")[0] == logging.DEBUG  # a repeat
    # The exception line repeating the message logged just before stays out of the tail.
    lines.classify(_sdk("ERROR", "tap-x", "gone"))
    assert lines.classify("Traceback (most recent call last):")[0] == logging.DEBUG
    assert lines.classify('  File "x.py", line 1, in f') == (
        logging.DEBUG, '  File "x.py", line 1, in f', False,
    )  # fmt: skip
    assert lines.classify("RuntimeError: gone") == (logging.DEBUG, "RuntimeError: gone", False)
    assert lines.traceback_lines == 2
    assert lines.classify("after")[0] == logging.INFO


def test_a_config_error_prints_the_error_and_hint_only(tmp_path: Path):
    ran = run_cli("run", "--tap", "files", "--target", "files", "--state-file", "s.json",
                  cwd=tmp_path)  # fmt: skip
    assert ran.code == 2, ran.stderr
    assert ran.stderr.splitlines() == [
        "error: tap-files config is invalid:",
        "  - missing required setting 'streams'",
        "  hint: `glue connectors about files` lists its settings",
    ]


def test_json_log_format_writes_only_json_lines(tmp_path: Path):
    ok = _run_review_tap(
        tmp_path, [*_out(SCHEMA_S, {"type": "RECORD", "stream": "s", "record": {"id": 1}})],
        "--log-format", "json",
    )  # fmt: skip
    assert ok.code == 0, ok.stderr
    events = [json.loads(line) for line in ok.stderr.splitlines()]
    end = [e for e in events if e.get("event") == "job_end"]
    assert end and end[0]["status"] == "success" and end[0]["records_out"] == 1
    assert any(e.get("event") == "stream_end" for e in events)
    failed = _run_review_tap(tmp_path, _chatty_failing_tap(), "--log-format", "json")
    assert failed.code == 3
    events = [json.loads(line) for line in failed.stderr.splitlines()]
    assert events[-1]["event"] == "error" and events[-1]["exit_code"] == 3
    assert "the API said 401" in events[-1]["message"] and events[-1]["hint"]
    bad = run_cli("--log-format", "json", "state", "show", cwd=tmp_path)
    assert bad.code == 2
    assert json.loads(bad.stderr)["message"] == "which state key?"
    (tmp_path / "nowhere").mkdir()
    listed = run_cli("--log-format", "json", "state", "list", cwd=tmp_path / "nowhere")
    notes = [json.loads(line) for line in listed.stderr.splitlines()]
    assert notes[0]["message"].startswith("no state in ") and notes[0]["event"] == "note"


# -- glue tap: saving tap output for `glue etl test` ----------------------------------------

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo flow (files tap, field map, ETL, sqlite target) to run in."""
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("output", ".glue"))
    return folder


def _singer(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_glue_tap_saves_the_field_mapped_output_for_etl_test(demo: Path):
    saved = run_cli("tap", "flow.yml", "-o", "saved.singer", cwd=demo)
    assert saved.code == 0, saved.stderr
    assert "80 records written to saved.singer" in saved.stderr
    assert "glue etl test SCRIPT --input saved.singer" in saved.stderr
    messages = _singer((demo / "saved.singer").read_text())
    records = [m for m in messages if m["type"] == "RECORD"]
    assert len(records) == 80
    customers = [m["record"] for m in records if m["stream"] == "customers"]
    assert customers and all("created_at" not in r and "email" in r for r in customers)
    assert any(m["type"] == "STATE" for m in messages)
    assert not (demo / ".glue" / "state").exists()  # no bookmark read or committed
    assert not (demo / "output").exists()  # the flow's target never ran
    tested = run_cli("etl", "test", "etl.py", "--input", "saved.singer", cwd=demo)
    assert tested.code == 0, tested.stderr
    out = [m for m in _singer(tested.stdout) if m["type"] == "RECORD"]
    assert len(out) == 80 and all(
        "amount_cents" in m["record"] for m in out if m["stream"] == "orders"
    )


def test_glue_tap_reads_from_the_start_and_writes_stdout_by_default(demo: Path):
    assert run_cli("run", "flow.yml", cwd=demo).code == 0
    committed = (demo / ".glue" / "state" / "demo.json").read_bytes()
    saved = run_cli("tap", cwd=demo)  # flow.yml in the current folder
    assert saved.code == 0, saved.stderr
    assert len([m for m in _singer(saved.stdout) if m["type"] == "RECORD"]) == 80
    assert (demo / ".glue" / "state" / "demo.json").read_bytes() == committed
    nowhere = run_cli("tap", cwd=demo / "data")
    assert nowhere.code == 2 and "no flow.yml here" in nowhere.stderr


# -- fieldmap commands use ./flow.yml; discover checks the config ---------------------------


def test_fieldmap_commands_use_flow_yml_in_the_current_folder(demo: Path):
    shown = run_cli("fieldmap", "show", cwd=demo)
    assert shown.code == 0, shown.stderr
    assert "customers" in shown.stdout and "created_at" in shown.stdout
    checked = run_cli("fieldmap", "check", cwd=demo)
    assert checked.code == 0, checked.stderr
    assert "fieldmap.yml: OK" in checked.stderr
    init = run_cli("fieldmap", "init", "-o", "mine.yml", cwd=demo)
    assert init.code == 0, init.stderr
    hint = init.stderr.split("then `")[1].split("`")[0]
    again = run_cli(*hint.split()[1:], cwd=demo)  # the command the tool suggests works as given
    assert again.code == 0, again.stderr
    elsewhere = run_cli("fieldmap", "init", "--flow", "demo/flow.yml", "-o", "m.yml",
                        cwd=demo.parent)  # fmt: skip
    assert elsewhere.code == 0, elsewhere.stderr
    assert "glue fieldmap check m.yml --flow demo/flow.yml" in elsewhere.stderr
    none = run_cli("fieldmap", "check", cwd=demo / "data")
    assert none.code == 2 and "no flow.yml here" in none.stderr


def test_discover_checks_the_config_first(tmp_path: Path):
    ran = run_cli("discover", "files", cwd=tmp_path)
    assert ran.code == 2, ran.stdout
    assert "missing required setting 'streams'" in ran.stderr
    assert ran.stdout == ""
    assert not list(tmp_path.glob(".glue/catalogs/*.json"))  # no catalog cached


# -- state list, nested unknown keys ------------------------------------------------------


def test_state_list_says_where_it_looked(tmp_path: Path, demo: Path):
    empty = run_cli("state", "list", cwd=tmp_path)
    assert empty.code == 0
    assert f"no state in {tmp_path.resolve() / '.glue' / 'state'}" in empty.stderr
    assert "glue state list --flow FLOW" in empty.stderr
    none = run_cli("state", "show", "nokey", cwd=tmp_path)
    assert none.code == 0 and none.stdout.strip() == "{}"
    assert "no state under 'nokey' in .glue/state/nokey.json" in none.stderr
    assert run_cli("run", "flow.yml", cwd=demo).code == 0
    listed = run_cli("state", "list", cwd=demo)  # flow.yml in the current folder
    assert listed.code == 0, listed.stderr
    assert listed.stdout.startswith("demo\t") and "customers, orders" in listed.stdout
    shown = run_cli("state", "show", cwd=demo)
    assert shown.code == 0 and "bookmarks" in json.loads(shown.stdout)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source: {connector: x, confg: {}}\ntargets: [y]\n", "did you mean 'confg' -> 'config'?"),
        (
            "source: x\ntargets: [{connector: y, config_fle: a.json}]\n",
            "'config_fle' -> 'config_file'",
        ),
        ("source: x\ntargets: [y]\nstate: {dirr: s}\n", "'dirr' -> 'dir'"),
        ("source: x\ntargets: [y]\netl: {script: e.py, mdoe: batch}\n", "'mdoe' -> 'mode'"),
        ("source: x\ntargets: [y]\nfeild_map: f.yml\n", "'feild_map' -> 'field_map'"),
    ],
)
def test_unknown_keys_at_any_level_get_a_did_you_mean(tmp_path: Path, text: str, expected: str):
    (tmp_path / "flow.yml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_flow(tmp_path / "flow.yml")
    assert expected in str(err.value)
    ran = run_cli("run", "flow.yml", cwd=tmp_path)
    assert ran.code == 2 and expected in ran.stderr


# -- the resume promise after Ctrl-C --------------------------------------------------------


def _interrupt_after_first_commit(tmp_path: Path, state_value: dict[str, Any]) -> str:
    """Run a tap that sends a record and ``state_value`` and then waits; SIGINT the run once
    that state is committed; return its stderr."""
    steps = [
        *_out(SCHEMA_S, {"type": "RECORD", "stream": "s", "record": {"id": 1}}),
        *_out({"type": "STATE", "value": state_value}),
        ["wait_file", str(tmp_path / "never"), "x", 120],
    ]
    write_json(tmp_path / "tap.json", {"steps": steps})
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", "run", "--tap", REVIEW_TAP, "--target",
         FAKE_TARGET, "--tap-config", "tap.json", "--target-config", "target.json",
         "--state-file", "state.json"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "state.json").exists():  # the event: the first commit
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert json.loads((tmp_path / "state.json").read_text()) == state_value
    return stderr


def test_after_ctrl_c_the_hint_promises_a_resume_only_where_the_state_allows(tmp_path: Path):
    unsorted = {
        "bookmarks": {
            "s": {
                "replication_key": "updated_at",
                "replication_key_value": "2024-01-01",
                "progress_markers": {
                    "Note": "Progress is not resumable if interrupted.",
                    "replication_key": "updated_at",
                    "replication_key_value": "2024-03-01",
                },
            },
            "t": {"replication_key": "id", "replication_key_value": 7},
        }
    }
    (tmp_path / "a").mkdir()
    stderr = _interrupt_after_first_commit(tmp_path / "a", unsorted)
    assert "run again to resume from the committed state, except for stream 's'" in stderr
    assert "reads it again from the last completed bookmark" in stderr
    (tmp_path / "b").mkdir()
    sorted_state = {"bookmarks": {"s": {"replication_key_value": "2024-03-01"}}}
    stderr = _interrupt_after_first_commit(tmp_path / "b", sorted_state)
    assert "hint: run again to resume from the committed state\n" in stderr


def test_not_resumable_finds_progress_markers_in_streams_and_partitions():
    state = {
        "bookmarks": {
            "a": {"progress_markers": {}},
            "b": {"partitions": [{"context": {"x": 1}}, {"progress_markers": {"Note": "."}}]},
            "c": {"replication_key_value": 1},
            "d": "odd",
            "e": {"partitions": 3},
        }
    }
    assert not_resumable(state) == ["a", "b"]
    assert not_resumable({"bookmarks": [1]}) == [] and not_resumable(5) == []


# -- scripts/demo says what it is doing -----------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_demo_script_says_what_it_does_and_skips_an_up_to_date_install(tmp_path: Path):
    # A copy of the checkout's scripts, demo and pyproject files, sharing its installed .venv.
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", repo / "scripts")
    shutil.copytree(REPO / "examples" / "demo", repo / "examples" / "demo",
                    ignore=shutil.ignore_patterns("output", ".glue"))  # fmt: skip
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    for project in REPO.glob("connectors/*/pyproject.toml"):
        (repo / project.parent.relative_to(REPO)).mkdir(parents=True)
        shutil.copy(project, repo / project.relative_to(REPO))
    # The checkout's own bootstrap first (quick when its .venv is up to date, as in scripts/test).
    boot = subprocess.run(["bash", str(REPO / "scripts" / "bootstrap")],
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert boot.returncode == 0, boot.stdout + boot.stderr
    (repo / ".venv").symlink_to(REPO / ".venv")
    demo = subprocess.run(["bash", "scripts/demo"], cwd=repo, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    assert lines[:3] == [
        "demo: setting up .venv first (scripts/bootstrap)",
        "bootstrap: .venv is up to date",
        "demo: running examples/demo/flow.yml (CSV files -> field map -> ETL script -> SQLite)",
    ], demo.stdout
    assert (repo / "examples" / "demo" / "output" / "demo.db").exists()


def test_every_command_in_the_readme_tour_exists():
    from click.testing import CliRunner

    from glue_runtime.cli import main

    readme = (REPO / "README.md").read_text()
    tour = readme.split("## A short tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].split() for line in tour.splitlines()]
    commands = [c[1:] for c in commands if c and c[0] == "glue"]
    assert ["tap", "examples/demo/flow.yml", "-o", "saved.singer"] in commands
    for words in commands:
        words = [w for w in words if w not in ("-v",)]
        path = [w for w in words[:2] if not w.startswith("-") and "/" not in w and "." not in w]
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (words, result.output)


def test_a_failed_batch_job_reports_its_error_once(tmp_path: Path):
    script = REPO / "docs" / "examples" / "batch" / "etl.py"
    (tmp_path / "flow.yml").write_text(
        f"name: crm\n"
        f"source: {{connector: {SINGER / 'fake_tap.py'}, config: {{records: 3}}}}\n"
        f"etl: {{script: {script}, mode: batch}}\n"
        f"targets: [{{connector: {FAKE_TARGET}, config: {{output: out.jsonl}}}}]\n"
    )
    failed = run_cli("run", "flow.yml", cwd=tmp_path, env={"FAIL_ETL": "1"})
    assert failed.code == 4, failed.stderr
    assert failed.stderr.count("exited with code 1") == 1, failed.stderr
    assert "batch job" in failed.stderr and "failed (data error)" in failed.stderr
