"""benchmarks/webhook_load.py in quick mode runs end to end (so the load run never rots):
every accepted webhook is in a job, no key has two queued jobs, and tiny jobs run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_webhook_load_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "webhook_load.py"),
            "--quick",
            "--store",
            "sqlite",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    intake = got["intake"]
    assert intake["sent"] > 0 and intake["statuses"] == {"202": intake["sent"]}
    assert got["webhooks_lost"] == 0
    assert got["duplicate_jobs"] == 0
    assert got["store_after_intake"]["deliveries_in_jobs"] == intake["sent"]
    assert 0 < got["store_after_intake"]["jobs_queued"] <= got["tenants"]
    assert got["healthz"]["statuses"] == {"200": got["healthz"]["sent"]}
    jobs = got["jobs_phase"]
    assert jobs["jobs_succeeded"] > 0 and jobs["jobs_failed"] == 0, jobs["failures"]
    assert jobs["jobs_per_minute"] > 0
