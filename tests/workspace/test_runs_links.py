"""Workspace runs and the links' credentials: write links for targets, links that need
re-authorisation, secrets kept out of the output; batch ETL's environment; the docs' example."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from glue_runtime.workspace.store import LINK_NEEDS_REAUTH
from workspace.conftest_run import make_workspace, rows
from workspace.secret_sweep import assert_no_secrets

DOC = Path(__file__).parent.parent.parent / "docs" / "workspace.d" / "i12-run.md"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ws = make_workspace(tmp_path / "ws")
    for name, value in ws.env.items():
        monkeypatch.setenv(name, value)
    yield ws
    ws.store.close()


def test_no_secret_of_a_link_appears_in_the_output_or_the_workspace(ws, tmp_path: Path) -> None:
    ws.store.add_tenant("initech")
    ws.link(
        "rotating",
        "initech",
        "api",
        auth="api_key",
        settings={},
        secrets={"refresh_token": "rt-very-secret-1"},
    )
    got = ws.glue("-v", "run", "rotating", "--tenant", "initech", "--json")
    assert got.code == 0, got.stderr[-3000:]
    secrets = ["rt-very-secret-1", "rt-very-secret-1-next", "at-rt-very-secret-1-next"]
    assert_no_secrets(secrets, texts=[got.stdout, got.stderr], folders=[ws.root, tmp_path])
    assert "saved to the store" in got.stderr


def test_a_link_that_needs_reauthorisation_fails_its_job_with_exit_6(ws) -> None:
    link = ws.store.link("shop", "acme", "files")
    ws.store.set_link_status(link, LINK_NEEDS_REAUTH, "invalid_grant")
    got = ws.glue("run", "shop", "--tenant", "acme", "--connector", "files")
    assert got.code == 6, got.stderr
    assert "needs re-authorisation (invalid_grant)" in got.stderr
    assert "glue link shop files --tenant acme" in got.stderr
    assert not (ws.root / "out").exists()


def test_a_target_with_auth_takes_the_tenants_write_link(ws) -> None:
    ws.link("writes", "acme", "files")
    missing = ws.glue("run", "writes", "--tenant", "acme")
    assert missing.code == 2
    assert "tenant 'acme' has no link for target 'crm' of flow 'writes'" in missing.stderr

    ws.link(
        "writes",
        "acme",
        "crm",
        direction="write",
        auth="api_key",
        settings={"table_prefix": "acme_"},
    )
    got = ws.glue("run", "writes", "--tenant", "acme")
    assert got.code == 0, got.stderr[-3000:]
    assert [r["name"] for r in rows(ws.root / "out" / "writes-acme.db", "acme_orders")] == [
        "acme-1",
        "acme-2",
    ]


def test_a_batch_etl_script_gets_the_tenant_flow_and_connector_in_its_environment(ws) -> None:
    ws.link("batchy", "globex", "legacy")
    got = ws.glue("run", "batchy", "--tenant", "globex")
    assert got.code == 0, got.stderr[-3000:]
    (row,) = rows(ws.root / "out" / "batch-globex.db", "env")
    assert (row["tenant"], row["flow"], row["connector_id"]) == (
        "globex",
        "batchy",
        "legacy",
    )  # the source id


def test_the_docs_python_example_runs(ws, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    monkeypatch.chdir(ws.root)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, str(DOC), "exec"), {})
    assert printed.getvalue().split() == ["shop/acme/files", "success", "2"]
    assert json.loads(json.dumps(ws.store.catalog("shop", "acme", "files")))["streams"]
