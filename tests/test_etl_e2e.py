"""ETL scripts through the CLI: `etl test`, and a script failing mid-run."""

from __future__ import annotations

import json
from pathlib import Path

from glue_test_helpers import FAKE_TAP, FAKE_TARGET, read_jsonl, run_cli

EXAMPLES = Path(__file__).parent.parent / "docs" / "examples" / "etl"


def test_etl_test_prints_the_transformed_stream(tmp_path: Path):
    sample = tmp_path / "sample.singer"
    sample.write_text(
        '{"type":"SCHEMA","stream":"customers","schema":{"type":"object","properties":'
        '{"id":{"type":"integer"},"email":{"type":["string","null"]},'
        '"phone":{"type":["string","null"]}}},"key_properties":["id"]}\n'
        '{"type":"RECORD","stream":"customers","record":{"id":1,"email":"A@x.io","phone":"5551234"}}\n'
        '{"type":"STATE","value":{"bookmarks":{"customers":{"id":1}}}}\n'
    )
    result = run_cli("etl", "test", str(EXAMPLES / "mask.py"), "--input", str(sample), cwd=tmp_path)
    assert result.code == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["type"] for m in out] == ["SCHEMA", "RECORD", "STATE"]
    record = out[1]["record"]
    assert record["phone"] == "***1234" and len(record["email"]) == 64


def run_with_script(tmp_path: Path, script: str, tap: dict):
    (tmp_path / "etl.py").write_text(script)
    (tmp_path / "tap.json").write_text(json.dumps(tap))
    (tmp_path / "target.json").write_text(json.dumps({"output": str(tmp_path / "out.jsonl")}))
    return run_cli(
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
        "--etl",
        "etl.py",
        cwd=tmp_path,
    )


def test_a_script_exception_fails_the_run_with_stream_position_and_traceback(tmp_path: Path):
    script = tmp_path / "etl.py"
    script.write_text(
        "def transform(record, ctx):\n"
        "    if record['id'] == 13:\n"
        "        return {**record, 'ratio': 1 / 0}\n"
        "    return record\n"
    )
    (tmp_path / "tap.json").write_text(json.dumps({"records": 40, "state_every": 5}))
    (tmp_path / "target.json").write_text(json.dumps({"output": str(tmp_path / "out.jsonl")}))
    result = run_cli(
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
        "--etl",
        "etl.py",
        cwd=tmp_path,
    )
    assert result.code == 4
    assert "users" in result.stderr and "13" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert "etl.py" in result.stderr and "line 3" in result.stderr
    assert "runner.py" not in result.stderr  # the traceback is trimmed to the script
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 12
    assert json.loads((tmp_path / "state.json").read_text()) == {"bookmarks": {"users": {"id": 10}}}


def test_a_broken_script_fails_before_the_tap_starts(tmp_path: Path):
    (tmp_path / "etl.py").write_text("def transform(record, ctx)\n    return record\n")
    (tmp_path / "tap.json").write_text(json.dumps({"records": 3}))
    (tmp_path / "target.json").write_text(json.dumps({"output": str(tmp_path / "out.jsonl")}))
    result = run_cli(
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
        "--etl",
        "etl.py",
        cwd=tmp_path,
    )
    assert result.code == 2
    assert "etl.py" in result.stderr and ":1" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
