"""Workspace runs and the links' credentials: write links for targets, links that need
re-authorisation, secrets kept out of the output; batch ETL's environment; the docs' example."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from glue_test_helpers import wait_until

from glue_runtime.workspace.store import LINK_NEEDS_REAUTH
from workspace.conftest_run import make_workspace, rows
from workspace.secret_sweep import assert_no_secrets

DOC = Path(__file__).parent.parent.parent / "docs" / "workspace.md"


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
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    (block,) = [b for b in blocks if "run_workspace_flow" in b]
    monkeypatch.chdir(ws.root)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, str(DOC), "exec"), {})
    assert printed.getvalue().split() == ["shop/acme/files", "success", "2"]
    assert json.loads(json.dumps(ws.store.catalog("shop", "acme", "files")))["streams"]


def test_fieldmap_set_get_unset_keep_a_tenants_override_in_the_store(ws, tmp_path: Path) -> None:
    override = tmp_path / "acme.yml"
    override.write_text("streams:\n  orders:\n    fields: [id, updated_at]\n")
    got = ws.glue("fieldmap", "set", "shop", "files", str(override), "--tenant", "acme")
    assert got.code == 0, got.stderr
    assert ws.store.fieldmap_override("shop", "acme", "files") == override.read_text()
    shown = ws.glue("fieldmap", "get", "shop", "files", "--tenant", "acme")
    assert shown.code == 0 and shown.stdout == override.read_text()

    run = ws.glue("run", "shop", "--tenant", "acme", "--connector", "files")
    assert run.code == 0, run.stderr[-3000:]
    assert "name" not in rows(ws.root / "out" / "acme.db")[0]

    assert ws.glue("fieldmap", "unset", "shop", "files", "--tenant", "acme").code == 0
    assert ws.store.fieldmap_override("shop", "acme", "files") is None
    none = ws.glue("fieldmap", "get", "shop", "files", "--tenant", "acme")
    assert none.code == 2 and "has no field map override" in none.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shop", "files", "--tenant", "acmee"], "did you mean 'acme'"),
        (["shop", "db", "--tenant", "acme"], "'db' is a target of flow 'shop'"),
        (["shpo", "files", "--tenant", "acme"], "did you mean 'shop'"),
    ],
)
def test_fieldmap_set_refuses_bad_names_and_stores_nothing(ws, tmp_path, args, message) -> None:
    good = tmp_path / "fm.yml"
    good.write_text("streams:\n  orders: on\n")
    flow, connector, *rest = args
    got = ws.glue("fieldmap", "set", flow, connector, str(good), *rest)
    assert got.code == 2 and message in got.stderr, got.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("streams: [1, 2\n")
    got = ws.glue("fieldmap", "set", "shop", "files", str(bad), "--tenant", "acme")
    assert got.code == 2 and "bad.yml" in got.stderr
    assert ws.store.fieldmap_override("shop", "acme", "files") is None


def test_all_tenants_runs_each_one_and_exits_with_the_worst_code(ws) -> None:
    ws.store.set_link_status(ws.store.link("shop", "acme", "files"), LINK_NEEDS_REAUTH, "revoked")
    got = ws.glue("run", "shop", "--all-tenants", "--connector", "files")
    assert got.code == 6, got.stderr[-3000:]
    assert "shop/acme/files: FAILED (not started: link shop/files of tenant 'acme'" in got.stderr
    assert "shop/globex/files: SUCCESS, 3 records" in got.stderr
    assert len(rows(ws.root / "out" / "globex.db")) == 3
    assert not (ws.root / "out" / "acme.db").exists()


def test_a_tenants_overrides_are_merged_last(ws) -> None:
    import glue_runtime

    ws.store.add_tenant("hooli", meta={"overrides": {"files": {"add_metadata_columns": False}}})
    ws.link("shop", "hooli", "files", settings={"base_dir": str(ws.data("acme"))})
    (result,) = glue_runtime.run_workspace_flow("shop", tenant="hooli", connector="files")
    assert result.ok, result.error
    assert "_sdc_path" not in rows(ws.root / "out" / "hooli.db")[0]


def test_an_interrupted_job_stops_the_tenants_after_it(ws, tmp_path: Path) -> None:
    started = tmp_path / "started"
    for tenant, settings in (
        ("a-first", {"started_file": str(started), "hold_until": str(tmp_path / "never")}),
        ("b-next", {}),
    ):
        ws.store.add_tenant(tenant)
        ws.link(
            "rotating",
            tenant,
            "api",
            auth="api_key",
            settings=settings,
            secrets={"refresh_token": "r"},
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime", "run", "rotating", "--all-tenants"],
        cwd=ws.root, env={**os.environ, **ws.env}, stderr=subprocess.PIPE, text=True,
        stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: started.exists() or proc.poll() is not None, "the first tap to start")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "rotating/a-first/api was interrupted: not running rotating/b-next/api" in stderr
    assert not (ws.root / "out" / "rotating-b-next-api.db").exists()


def test_the_progress_line_starts_afresh_for_each_job(capsys) -> None:
    from glue_runtime.cli.wsrun import _Progress
    from glue_runtime.result import StreamStats

    live = _Progress()
    live({"orders": StreamStats("orders", records_in=900)}, 30.0)
    live.next_job()
    live({"orders": StreamStats("orders", records_in=5)}, 1.0)
    last = capsys.readouterr().err.split("\r\x1b[K")[-1]
    assert last.strip() == "1.0s  orders: 5 (5/s)"
