"""The store's schema: Alembic migrations from code, and the version check on opening."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from glue_runtime.errors import StoreError
from glue_runtime.workspace import schema
from glue_runtime.workspace.store import Store


def test_create_brings_an_empty_database_to_head_with_every_table(store_url: str):
    store = Store(store_url)
    store.create()
    store.create()  # a second time only checks
    assert store.check_schema() == schema.HEAD
    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": schema.VERSION_TABLE}),
            schema.all_tables(),
        )
        tables = set(sa.inspect(conn).get_table_names())
    assert diff == []  # the migrations make exactly the tables the code defines
    assert {"tenants", "links", "states", "leases", schema.VERSION_TABLE} <= tables
    store.close()


def test_head_names_the_newest_migration():
    assert schema.scripts().get_current_head() == schema.HEAD


def _set_revision(store: Store, revision: str) -> None:
    with store.write() as conn:
        conn.execute(
            sa.text(f"UPDATE {schema.VERSION_TABLE} SET version_num = :r"), {"r": revision}
        )


def test_a_store_newer_than_the_code_is_refused_unchanged(store_url: str):
    store = Store(store_url)
    store.create()
    _set_revision(store, "9f00newer")
    for step in (store.check_schema, store.create, store.upgrade):
        with pytest.raises(StoreError, match="schema revision 9f00newer, newer than this"):
            step()
    with store.engine.connect() as conn:
        assert schema.current(conn) == "9f00newer"
    store.close()


def test_a_store_older_than_the_code_asks_for_glue_store_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.write() as conn:  # a store issue 12's code made: revision 0001, with a link
        schema.upgrade(conn, "0001")
    store.add_tenant("acme")
    with store.write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO links (id, flow, tenant, connector, direction, auth, status, "
                "settings, credential_version, created_at, updated_at) VALUES "
                "('l1', 'shop', 'acme', 'crm', 'read', 'none', 'ok', '{}', 0, 1, 1)"
            )
        )
    with pytest.raises(StoreError, match=r"older than this glue_runtime's 0002") as caught:
        store.check_schema()
    assert "glue store upgrade" in str(caught.value.hint)
    assert store.upgrade() == ("0001", "0002")
    link = store.link("shop", "acme", "crm")  # the link survived, with the new columns
    assert link.id == "l1"
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT failures, paused_at FROM links")).one()
        assert tuple(row) == (0, None)
        assert sa.inspect(conn).has_table("jobs")
    store.close()


def test_a_database_without_the_schema_is_named(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StoreError, match="has no glue_runtime schema"):
        store.check_schema()
    assert store.upgrade() == (None, schema.HEAD)
    assert store.check_schema() == schema.HEAD
    store.close()


def test_an_unreachable_store_is_a_store_error(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    with pytest.raises(StoreError, match="cannot open the store at sqlite"):
        store.create()
