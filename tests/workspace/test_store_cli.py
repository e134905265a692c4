"""`glue store info|upgrade|migrate` through the real CLI, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from glue_test_helpers import CliResult, run_cli
from store_test_helpers import fresh_pg_url

from glue_runtime.workspace import schema
from glue_runtime.workspace.crypto import Keyring, new_key
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.store import Store

SECRET = "sk-live-do-not-print-4242"


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".glue").mkdir(parents=True)
    (root / "glue.yml").write_text("name: demo\nflows: {}\n")
    return root


def glue(workspace: Path, key: str, *args: str, url: str | None = None) -> CliResult:
    env = {"GLUE_SECRET_KEY": key, **({"GLUE_STORE_URL": url} if url else {})}
    return run_cli("--workspace", str(workspace), *args, cwd=workspace, env=env)


def fill(store: Store) -> None:
    """A store with a bit of everything: tenants, a link with a secret, state, audit, catalog."""
    store.create()
    store.add_tenant("acme", "Acme")
    store.add_tenant("globex")
    store.save_link(
        flow="shop",
        tenant="acme",
        connector="tap",
        direction="read",
        auth="api_key",
        settings={"region": "eu"},
        secrets={"api_key": SECRET},
    )
    store.save_catalog("shop", "acme", "tap", {"streams": []})
    store.record("link", "shop/acme/tap")
    state = DbStateStore(store)
    lease = state.acquire("shop/acme/tap", "a", 60)
    state.commit("shop/acme/tap", {"bookmarks": {"orders": 2**64 + 3}}, lease)


def test_upgrade_and_info_on_a_new_sqlite_store(workspace: Path, key: str):
    info = glue(workspace, key, "store", "info")
    assert info.code == 0, info.stderr
    assert "schema:    (none) (no schema: run `glue store upgrade`)" in info.stdout
    up = glue(workspace, key, "store", "upgrade")
    assert up.code == 0 and f"from schema revision (none) to {schema.HEAD}" in up.stderr
    again = glue(workspace, key, "store", "upgrade")
    assert again.code == 0 and "already at schema revision" in again.stderr
    info = glue(workspace, key, "store", "info")
    assert f"schema:    {schema.HEAD} (current)" in info.stdout
    assert "tenants:   0" in info.stdout and "store.db" in info.stdout


def test_a_store_newer_than_the_code_is_refused_by_upgrade(workspace: Path, key: str):
    store = Store(f"sqlite:///{workspace / '.glue' / 'store.db'}")
    store.create()
    with store.write() as conn:
        conn.execute(sa.text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'ffff'"))
    store.close()
    up = glue(workspace, key, "store", "upgrade")
    assert up.code == 2 and "schema revision ffff, newer than this glue_runtime" in up.stderr
    info = glue(workspace, key, "store", "info", "--json")
    assert info.code == 0, info.stderr
    shown = json.loads(info.stdout)
    assert shown["schema"] == "ffff" and shown["status"].startswith("newer than this")


@pytest.mark.postgres
def test_migrate_moves_a_sqlite_store_into_postgresql(workspace: Path, key: str):
    source = Store(f"sqlite:///{workspace / '.glue' / 'store.db'}", Keyring.from_texts([key], "t"))
    fill(source)
    source.close()
    with fresh_pg_url() as url:
        moved = glue(workspace, key, "store", "migrate", "--to", url)
        assert moved.code == 0, moved.stderr
        assert "2 tenants, 1 links" in moved.stderr and "GLUE_STORE_URL" in moved.stderr
        output = moved.stdout + moved.stderr
        assert SECRET not in output and ":glue@" not in output  # no secret, no password

        target = Store(url, Keyring.from_texts([key], "t"))
        link = target.link("shop", "acme", "tap")
        assert target.credentials(link)[1] == {"api_key": SECRET}  # still decrypts
        assert DbStateStore(target).get("shop/acme/tap") == {"bookmarks": {"orders": 2**64 + 3}}
        assert target.catalog("shop", "acme", "tap") == {"streams": []}
        target.record("after", "the move")  # the audit id sequence moved past the copied ids
        target.close()

        info = glue(workspace, key, "store", "info", url=url)
        assert info.code == 0, info.stderr
        assert "tenants:   2" in info.stdout and "states:    1" in info.stdout
        assert "postgresql" in info.stdout and ":glue@" not in info.stdout

        again = glue(workspace, key, "store", "migrate", "--to", url)
        assert (
            again.code == 2
            and "is not empty" in again.stderr
            and "nothing was changed" in again.stderr
        )


def test_migrate_into_the_same_store_is_refused(workspace: Path, key: str):
    Store(f"sqlite:///{workspace / '.glue' / 'store.db'}").create()
    same = glue(
        workspace, key, "store", "migrate", "--to", f"sqlite:///{workspace / '.glue' / 'store.db'}"
    )
    assert same.code == 2 and "names the workspace's own store" in same.stderr
