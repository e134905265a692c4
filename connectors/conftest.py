"""Ending a test session: stop the PostgreSQL server the session started for the postgres tests.

connectors/postgres/tests/conftest.py starts the server with scripts/start-postgres.sh when
GLUE_TEST_PG_DSN is not set, signs the session in under ``$GLUE_PG_DIR.users/<pid>`` and, when
its call started the server, writes the session's pid to ``started-by``. This hook lives here,
not there, because under pytest-xdist only the controller knows when every worker is done, and
it loads only the conftest files of the folders it was given.

The server keeps running when GLUE_TEST_PG_KEEP=1, and when another live session still uses it
(that session then stops it). ``bash scripts/stop-postgres.sh`` stops it by hand.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

STOP_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stop-postgres.sh"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput") or os.environ.get("GLUE_TEST_PG_DSN"):
        return
    users = Path(os.environ.get("GLUE_PG_DIR", "/tmp/glue-pg").rstrip("/") + ".users")
    me = str(os.getpid())
    if not (users / me).exists():
        return  # this session did not use the script's server
    (users / me).unlink()
    owner_file = users / "started-by"
    try:
        if owner_file.read_text().strip() != me:
            return  # another session started it (or it was running before)
    except OSError:
        return
    others = []
    for entry in users.iterdir():
        if entry.name.isdigit():
            if _alive(int(entry.name)):
                others.append(entry.name)
            else:
                entry.unlink(missing_ok=True)  # a session that died without signing out
    report = session.config.pluginmanager.get_plugin("terminalreporter")
    if others:
        owner_file.write_text(others[0])  # the last session to end stops it
        return
    owner_file.unlink(missing_ok=True)
    if os.environ.get("GLUE_TEST_PG_KEEP") == "1":
        return
    proc = subprocess.run(
        ["bash", str(STOP_SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    if report is not None:
        what = "stopped" if proc.returncode == 0 else "could not stop"
        report.write_line(
            f"{what} the PostgreSQL server these tests started "
            f"(GLUE_TEST_PG_KEEP=1 keeps it): {proc.stderr.strip()}"
        )
