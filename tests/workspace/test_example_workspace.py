"""examples/workspace/run.sh, as a user runs it: the local OAuth provider, two tenants linked
(OAuth through start_link/finish_link, settings through `glue link --config`), the flow run
for both, then again. Each tenant's database holds only its own account's rows."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "workspace"


@pytest.mark.slow
def test_the_example_workspace_runs_offline_for_two_tenants(tmp_path: Path) -> None:
    here = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, here, ignore=shutil.ignore_patterns(".glue", "output"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLUE_")}
    env["GLUE_REPO"] = str(REPO)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", str(here / "run.sh")], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "crm/acme/contacts: SUCCESS, 3 records" in out
    assert "crm/globex/orders: SUCCESS, 2 records" in out
    assert "crm/acme/orders: SUCCESS, 1 records" in out  # the second run is incremental
    rows = {}
    for tenant in ("acme", "globex"):
        with sqlite3.connect(here / "output" / f"{tenant}.db") as db:
            rows[tenant] = (
                [r[0] for r in db.execute("select id from contacts order by id")],
                [r[0] for r in db.execute("select customer from orders order by id")],
            )
    assert rows["acme"] == (["account-a-1", "account-a-2", "account-a-3"], ["ana", "ben", "carla"])
    assert rows["globex"] == (["account-b-1", "account-b-2", "account-b-3"], ["dora", "emil"])
    assert "glue-test-client-secret" not in out  # the client secret never shows
