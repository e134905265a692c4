"""The benchmark suite's quick mode runs end to end, so the heavy suite never rots unnoticed."""

import json
import subprocess
import sys
from pathlib import Path

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
}


def test_quick_mode_writes_every_case(tmp_path):
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
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["quick"] is True
    cases = {c["key"]: c for c in result["cases"]}
    assert set(cases) == EXPECTED
    # the bound and the runner's own stages always run; peers are off in quick mode
    for key in ("bound", "glue_stages"):
        assert cases[key]["status"] == "ok", cases[key]
        assert cases[key]["records"] == 2000
        assert cases[key]["records_per_s"] > 0
        assert cases[key]["median_tree_peak_mb"] > 0
    for key in ("mmt_stages", "shell_pipe", "target_jsonl", "meltano_run"):
        assert cases[key]["status"] == "skipped", cases[key]
    # the bundled files target runs once it is installed, and is skipped with a reason until then
    for key in ("glue_e2e", "glue_target_files"):
        assert cases[key]["status"] in ("ok", "skipped"), cases[key]
        if cases[key]["status"] == "skipped":
            assert "not available" in cases[key]["skipped"]
    assert result["ratios"]["case2/case1"]["2000"]["value"] > 0
    assert "| orjson loop (the bound)" in proc.stdout


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
