"""scripts/start-postgres.sh: idempotent, and what it prints is a DSN that works."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.postgres

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "start-postgres.sh"


@pytest.mark.skipif(os.geteuid() != 0, reason="the script manages the cluster as root")
def test_second_run_reuses_the_running_server_and_prints_the_dsn() -> None:
    runs = [
        subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    dsn = runs[1].stdout.strip().splitlines()[-1]
    assert dsn == "postgresql://glue:glue@127.0.0.1:54329/glue_test"
    assert runs[1].stdout.strip() == dsn  # stdout holds nothing but the DSN
    assert "already running" in runs[1].stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "glue",
            "glue_test",
        )
