"""scripts/start-postgres.sh: idempotent, and what it prints is a DSN that works."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


STOP_SCRIPT = SCRIPT.parent / "stop-postgres.sh"
REPO = SCRIPT.parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the script manages the cluster as root")
def test_a_test_run_that_started_the_server_stops_it_at_its_end() -> None:
    # A private cluster (own folder and port), never the shared server other runs use.
    folder = Path(tempfile.mkdtemp(prefix="glue-pg-stop-", dir="/tmp"))
    os.chmod(folder, 0o755)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "GLUE_TEST_PG_DSN"}
    env |= {"GLUE_PG_DIR": str(folder / "pg"), "GLUE_PG_PORT": str(port)}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-n", "2",
             "connectors/postgres/tests/test_errors.py", "-k", "wrong_password"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "2 passed" in run.stdout, run.stdout
        assert "stopped the PostgreSQL server these tests started" in run.stdout, run.stdout
        assert not _listening(port)
        # A run that finds the server running leaves it running.
        started = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        again = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist",
             "connectors/postgres/tests/test_errors.py", "-k", "wrong_password_in_dsn"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
        assert "stopped the PostgreSQL server" not in again.stdout
        assert _listening(port)
        stopped = subprocess.run(
            ["bash", str(STOP_SCRIPT)], env=env, capture_output=True, text=True
        )
        assert stopped.returncode == 0 and "stopped the server" in stopped.stderr, stopped.stderr
        assert not _listening(port)
    finally:
        subprocess.run(["bash", str(STOP_SCRIPT)], env=env, capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)  # the cluster, its lock and sign-in folder
