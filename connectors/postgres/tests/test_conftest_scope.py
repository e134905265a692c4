"""This package's conftest skips some standard-suite checks for its jsonb columns only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_jsonb_skips_leave_other_connectors_checks_alone() -> None:
    # The sqlite and files suites have columns of the same names (people.meta), each holding
    # objects only: their checks must run even when this package's conftest is loaded.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:xdist",
            "-rs",
            "-q",
            "connectors/postgres/tests/test_start_script.py",  # loads this package's conftest
            "connectors/sqlite/tests/test_standard.py",
            "connectors/files/tests/test_standard.py",
            "-k",
            "test_tap_stream_attribute_is_object",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "jsonb" not in proc.stdout, proc.stdout[-3000:]
    assert "skipped" not in proc.stdout, proc.stdout[-3000:]
    assert " passed" in proc.stdout, proc.stdout[-3000:]
