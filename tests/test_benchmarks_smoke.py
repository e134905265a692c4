"""The benchmark suite's quick mode runs end to end, so the heavy suite never rots unnoticed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPECTED = {
    "bound",
    "glue_stages",
    "mmt_stages",
    "glue_e2e",
    "shell_pipe",
    "meltano_run",
    "glue_target_files",
    "target_jsonl",
    "import_sdk",
    "glue_tiny",
}


# Installed as sitecustomize.py on PYTHONPATH, it breaks one part of glue_runtime in every
# Python process the benchmark starts, as a half-landed change would.
BREAKER = """
import os

_what = os.environ.get("GLUE_TEST_BREAK")
if _what == "transform":
    import glue_runtime.stages.transform as _t

    def make_transform(*args, **kwargs):
        raise RuntimeError("transform broken by the test")

    _t.make_transform = make_transform
elif _what == "files":
    import glue_runtime.connectors as _c

    _resolve = _c.resolve

    def resolve(name, *args, **kwargs):
        if name == "files":
            raise LookupError("files target hidden by the test")
        return _resolve(name, *args, **kwargs)

    _c.resolve = resolve
"""


def run_quick(tmp_path, env=None):
    out = tmp_path / "quick.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--quick",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return proc, out


def test_quick_mode_writes_every_case(tmp_path):
    proc, out = run_quick(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["quick"] is True
    cases = {c["key"]: c for c in result["cases"]}
    assert set(cases) == EXPECTED
    # glue_runtime's real stages and the bundled files target always run; peers are off
    assert result["stages"] == {"select_stage": "real", "transform_stage": "real"}
    for key in ("bound", "glue_stages", "glue_e2e", "glue_target_files"):
        assert cases[key]["status"] == "ok", cases[key]
        assert cases[key]["records"] == 2000
        assert cases[key]["records_per_s"] > 0
        assert cases[key]["median_tree_peak_mb"] > 0
    for key in ("mmt_stages", "shell_pipe", "target_jsonl", "meltano_run"):
        assert cases[key]["status"] == "skipped", cases[key]
    for key in ("import_sdk", "glue_tiny"):  # one job (one start) a run
        assert cases[key]["status"] == "ok", cases[key]
        assert cases[key]["records"] == 1
    assert result["ratios"]["case2/case1"]["2000"]["value"] > 0
    assert result["ratios"]["tiny/import_sdk"]["1"]["value"] > 0
    assert "| orjson loop (the bound)" in proc.stdout


@pytest.mark.parametrize(
    ("broken", "rows", "reason"),
    [
        ("transform", {"glue_stages", "glue_e2e"}, "transform broken by the test"),
        ("files", {"glue_e2e", "glue_target_files", "glue_tiny"}, "hidden by the test"),
    ],
)
def test_quick_mode_fails_when_a_real_part_does_not_build(tmp_path, broken, rows, reason):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BREAKER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")])
        ),
        "GLUE_TEST_BREAK": broken,
    }
    proc, out = run_quick(tmp_path, env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    cases = {c["key"]: c for c in json.loads(out.read_text())["cases"]}
    failed = {key for key, case in cases.items() if case["status"] == "failed"}
    assert failed == rows, cases
    for key in rows:
        assert reason in cases[key]["error"], cases[key]
    assert cases["bound"]["status"] == "ok"


def test_state_heavy_benchmark_runs_and_prints_its_ratios():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "state_heavy.py"), "--records", "300"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| STATE per record")]
    assert len(rows) == 2, proc.stdout
    assert all(float(row.rstrip(" |").rsplit("|", 1)[1]) > 0 for row in rows)


def test_tiny_jobs_benchmark_runs_and_prints_its_ratios(tmp_path):
    out = tmp_path / "tiny.json"
    script = REPO / "benchmarks" / "tiny_jobs.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--repeats", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["case"]: r for r in json.loads(out.read_text())["rows"]}
    assert len(rows) == 3
    assert all(r["wall_vs_baseline"] > 0 for r in rows.values())
    assert "| tiny job (caches warm) |" in proc.stdout
