"""Workspace flow runs (`glue run FLOW --tenant T`, run_workspace_flow): each tenant's links run
with its own config, state, catalog, field map and output; real connectors, a real store."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from glue_test_helpers import wait_until

import glue_runtime
from glue_runtime.errors import ConfigError
from glue_runtime.workspace.dbstate import DbStateStore
from workspace.conftest_run import make_workspace, orders, rows


def _workspace(root: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None = None):
    ws = make_workspace(root, store_url)
    for name, value in ws.env.items():
        monkeypatch.setenv(name, value)
    return ws


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ws = _workspace(tmp_path / "ws", monkeypatch)
    yield ws
    ws.store.close()


@pytest.fixture
def any_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str):
    """The workspace with its store on SQLite, then on PostgreSQL."""
    ws = _workspace(tmp_path / "ws", monkeypatch, store_url)
    yield ws
    ws.store.close()


def test_two_tenants_each_get_only_their_own_rows_state_and_etl_context(any_ws) -> None:
    ws = any_ws
    first = ws.glue("run", "shop", "--all-tenants", "--connector", "files", "--json")
    assert first.code == 0, first.stderr[-3000:]
    results = {r["tenant"]: r for r in json.loads(first.stdout)}
    assert set(results) == {"acme", "globex"}
    assert results["acme"]["state_key"] == "shop/acme/files"
    assert results["globex"]["state_key"] == "shop/globex/files"
    assert (
        "shop/acme/files: SUCCESS" in first.stderr and "shop/globex/files: SUCCESS" in first.stderr
    )

    acme, globex = rows(ws.root / "out" / "acme.db"), rows(ws.root / "out" / "globex.db")
    assert [r["name"] for r in acme] == ["acme-1", "acme-2"]
    assert [r["name"] for r in globex] == ["globex-1", "globex-2", "globex-3"]
    # the stream ETL saw the job's tenant, flow, connector and id (never the process's env)
    assert {(r["tenant"], r["flow"], r["connector"]) for r in acme} == {("acme", "shop", "files")}
    assert {(r["tenant"], r["flow"], r["connector"]) for r in globex} == {
        ("globex", "shop", "files")
    }
    assert {r["job_id"] for r in acme} == {results["acme"]["job_id"]}
    bookmark = results["acme"]["state"]["bookmarks"]["orders"]["replication_key_value"]
    assert bookmark.startswith("2024-01-02")
    assert results["globex"]["state"]["bookmarks"]["orders"]["replication_key_value"].startswith(
        "2024-01-03"
    )

    states = DbStateStore(ws.store)  # bookmarks live in the workspace store, one key a link
    assert {"shop/acme/files", "shop/globex/files"} <= set(states.keys())
    globex_state = states.get("shop/globex/files")

    # a second run is incremental per tenant: acme's new row only; globex's state untouched
    orders(
        ws.data("acme"),
        [{"id": 9, "name": "acme-9", "updated_at": "2024-02-01T00:00:00+00:00"}],
        "part-2.jsonl",
    )
    second = ws.glue("run", "shop", "--tenant", "acme", "--connector", "files", "--json")
    assert second.code == 0, second.stderr[-3000:]
    (again,) = json.loads(second.stdout)
    assert again["records_in"] < 4  # not the whole folder again
    assert [r["name"] for r in rows(ws.root / "out" / "acme.db")][-1] == "acme-9"
    assert again["state"]["bookmarks"]["orders"]["replication_key_value"].startswith("2024-02-01")
    assert states.get("shop/globex/files") == globex_state
    assert [r["name"] for r in rows(ws.root / "out" / "globex.db")] == [
        "globex-1",
        "globex-2",
        "globex-3",
    ]


def test_a_source_the_tenant_has_not_linked_is_skipped_with_a_note(ws) -> None:
    got = ws.glue("run", "shop", "--tenant", "globex")
    assert got.code == 0, got.stderr[-3000:]
    assert "shop/globex: no link for source 'other': skipped" in got.stderr
    assert "shop/globex/files: SUCCESS" in got.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shpo", "--tenant", "acme"], "did you mean 'shop'"),
        (["shop", "--tenant", "acmee"], "did you mean 'acme'"),
        (["shop", "--tenant", "acme", "--connector", "fils"], "did you mean 'files'"),
        (["shop", "--tenant", "acme", "--connector", "db"], "'db' is a target of flow 'shop'"),
        (
            ["shop", "--tenant", "acme", "--connector", "other"],
            "link it with `glue link shop other",
        ),
        (["mapped", "--tenant", "acme"], "tenant 'acme' has no linked source in flow 'mapped'"),
        (["shop"], "give --tenant T or --all-tenants"),
        (["shop", "--tenant", "acme", "--state-file", "s.json"], "--state-file cannot be used"),
    ],
)
def test_bad_input_is_a_named_error_and_runs_nothing(ws, args: list[str], message: str) -> None:
    got = ws.glue("run", *args)
    assert got.code == 2, got.stderr
    assert message in got.stderr
    assert not (ws.root / "out").exists()


def test_a_flow_file_run_is_unchanged_inside_a_workspace(ws) -> None:
    (ws.root / "plain.yml").write_text(
        f"""
name: plain
source:
  connector: files
  config: {{base_dir: {ws.data("acme")}, streams: [{{name: orders, path: orders}}]}}
targets:
  - connector: sqlite
    config: {{database: out/plain.db}}
"""
    )
    got = ws.glue("run", "plain.yml")
    assert got.code == 0, got.stderr[-3000:]
    assert len(rows(ws.root / "out" / "plain.db")) == 2
    assert (ws.root / ".glue" / "state" / "plain.json").exists()
    missing = ws.glue("run", "nosuch.yml")
    assert missing.code == 2 and "flow file nosuch.yml does not exist" in missing.stderr


def test_field_map_name_a_tenant_lacks_is_a_warning_for_that_tenant_only(ws, caplog) -> None:
    for tenant in ("acme", "globex"):
        ws.link("mapped", tenant, "files")
    caplog.set_level(logging.WARNING)
    (acme,) = glue_runtime.run_workspace_flow("mapped", tenant="acme", workspace=ws.root)
    (globex,) = glue_runtime.run_workspace_flow("mapped", tenant="globex", workspace=ws.root)
    assert acme.ok and globex.ok, (acme.error, globex.error)
    assert acme.warnings == []
    assert any("tenant 'globex'" in w and "'vip'" in w for w in globex.warnings)
    assert [r["vip"] for r in rows(ws.root / "out" / "mapped-acme.db")] == [1, 1]
    assert "vip" not in rows(ws.root / "out" / "mapped-globex.db")[0]
    # the tenant's catalog was discovered with its config and kept in the store
    assert ws.store.catalog("mapped", "globex", "files") is not None


def test_stored_catalog_is_reused_until_refreshed(ws) -> None:
    ws.link("mapped", "acme", "files")
    assert glue_runtime.run_workspace_flow("mapped", tenant="acme", workspace=ws.root)[0].ok
    catalog = ws.store.catalog("mapped", "acme", "files")
    (stream,) = catalog["streams"]
    del stream["schema"]["properties"]["vip"]  # as if the tenant's account had no such field
    ws.store.save_catalog("mapped", "acme", "files", catalog)

    (reused,) = glue_runtime.run_workspace_flow("mapped", tenant="acme", workspace=ws.root)
    assert reused.ok and any("'vip'" in w for w in reused.warnings)
    (fresh,) = glue_runtime.run_workspace_flow(
        "mapped", tenant="acme", workspace=ws.root, refresh_catalog=True
    )
    assert fresh.ok and fresh.warnings == []
    assert (
        "vip" in ws.store.catalog("mapped", "acme", "files")["streams"][0]["schema"]["properties"]
    )


def test_a_tenant_field_map_override_replaces_the_flow_one(ws) -> None:
    ws.link("mapped", "acme", "files")
    ws.store.save_fieldmap_override(
        "mapped", "acme", "files", "streams:\n  orders:\n    fields: [id, updated_at]\n"
    )
    (result,) = glue_runtime.run_workspace_flow("mapped", tenant="acme", workspace=ws.root)
    assert result.ok, result.error
    got = rows(ws.root / "out" / "mapped-acme.db")
    assert "name" not in got[0] and "vip" not in got[0]


def test_an_unknown_tenant_from_python_is_a_config_error(ws) -> None:
    with pytest.raises(ConfigError, match="did you mean 'globex'"):
        glue_runtime.run_workspace_flow("shop", tenant="globx", workspace=ws.root)


def test_credentials_the_tap_writes_back_go_to_the_store(ws) -> None:
    ws.store.add_tenant("initech")
    ws.link(
        "rotating",
        "initech",
        "api",
        auth="api_key",
        settings={},
        secrets={"refresh_token": "rt-secret-1"},
    )
    (result,) = glue_runtime.run_workspace_flow("rotating", tenant="initech", workspace=ws.root)
    assert result.ok, result.error
    link = ws.store.link("rotating", "initech", "api")
    version, secrets = ws.store.credentials(link)
    assert version == 2
    assert secrets == {"refresh_token": "rt-secret-1-next", "access_token": "at-rt-secret-1-next"}
    assert len(rows(ws.root / "out" / "rotating-initech-api.db", "items")) == 3


def test_a_write_back_never_overwrites_newer_credentials(any_ws, tmp_path: Path, caplog) -> None:
    ws = any_ws
    ws.store.add_tenant("initech")
    started, release = tmp_path / "started", tmp_path / "release"
    ws.link(
        "rotating",
        "initech",
        "api",
        auth="api_key",
        settings={"started_file": str(started), "hold_until": str(release)},
        secrets={"refresh_token": "rt-secret-1"},
    )
    caplog.set_level(logging.WARNING)
    results: list = []
    runner = threading.Thread(
        target=lambda: results.extend(
            glue_runtime.run_workspace_flow("rotating", tenant="initech", workspace=ws.root)
        )
    )
    runner.start()
    wait_until(started.exists, "the tap to write its config back")
    ws.link(
        "rotating",
        "initech",
        "api",
        auth="api_key",
        settings={},
        secrets={"refresh_token": "relinked"},
    )
    release.touch()
    runner.join(120)
    assert results and results[0].ok, results and results[0].error
    version, secrets = ws.store.credentials(ws.store.link("rotating", "initech", "api"))
    assert (version, secrets) == (2, {"refresh_token": "relinked"})
    assert "the store's newer ones are kept" in caplog.text
    assert "rt-secret-1" not in caplog.text


def test_jobs_of_two_tenants_side_by_side_in_one_process_keep_their_own_etl_context(ws) -> None:
    results: dict[str, list] = {}

    def run(tenant: str) -> None:
        results[tenant] = glue_runtime.run_workspace_flow(
            "shop", tenant=tenant, connector="files", workspace=ws.root
        )

    threads = [threading.Thread(target=run, args=(t,)) for t in ("acme", "globex")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r[0].ok for r in results.values()), {t: r[0].error for t, r in results.items()}
    for tenant in ("acme", "globex"):
        got = rows(ws.root / "out" / f"{tenant}.db")
        assert {(r["tenant"], r["job_id"]) for r in got} == {(tenant, results[tenant][0].job_id)}
