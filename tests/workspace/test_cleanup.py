"""Store.remove_tenant and Store.purge_expired, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.workspace.dbstate import DbStateStore, link_refresh_key, workspace_state_key
from glue_runtime.workspace.store import (
    Store,
    audit,
    catalogs,
    fieldmap_overrides,
    leases,
    link_tokens,
    links,
    oauth_states,
    states,
    tenants,
)

# "a_c" would also match "abc" in an unescaped LIKE pattern: the trap for key matching.
TENANTS = ("a_c", "abc")


def _give(store: Store, tenant: str) -> None:
    """One of everything the store keeps for a tenant."""
    store.add_tenant(tenant)
    link = store.save_link(
        flow="shop",
        tenant=tenant,
        connector="tap",
        direction="read",
        auth="oauth2",
        settings={},
        secrets={"refresh_token": f"rt-{tenant}"},
    )
    store.save_catalog("shop", tenant, "tap", {"streams": []})
    store.save_fieldmap_override("shop", tenant, "tap", "orders: {}")
    with store.write() as conn:
        for ttl in (100.0, 300.0):
            conn.execute(
                sa.insert(oauth_states).values(
                    state_hash=f"{tenant}-{ttl}",
                    flow="shop",
                    tenant=tenant,
                    connector="tap",
                    redirect_uri="http://127.0.0.1:8123/cb",
                    expires_at=ttl,
                )
            )
            conn.execute(
                sa.insert(link_tokens).values(
                    token_hash=f"{tenant}-{ttl}",
                    flow="shop",
                    tenant=tenant,
                    connector="tap",
                    expires_at=ttl,
                )
            )
    state = DbStateStore(store)
    key = workspace_state_key("shop", tenant, "tap")
    lease = state.acquire(key, "job", 60)
    state.commit(key, {"bookmarks": {"orders": 1}}, lease)
    state.release(lease)
    state.release(state.acquire(link_refresh_key(link.id), "refresher", 60))


def _rows(store: Store, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
        )


def test_removing_a_tenant_removes_everything_of_theirs_and_nothing_else(any_store: Store):
    for tenant in TENANTS:
        _give(any_store, tenant)
    other_link = any_store.link("shop", "abc", "tap")
    removed = any_store.remove_tenant("a_c")
    assert {"jobs", "service_keys", "outbox"} <= set(removed)  # tables of the layers above
    assert {table: n for table, n in removed.items() if n} == {
        "catalogs": 1,
        "fieldmap_overrides": 1,
        "leases": 2,  # its state key's and its link's refresh lease
        "link_tokens": 2,
        "links": 1,
        "oauth_states": 2,
        "states": 1,
        "tenants": 1,
    }
    for table in (links, catalogs, fieldmap_overrides, oauth_states, link_tokens):
        assert _rows(any_store, table, table.c.tenant == "a_c") == 0
        assert _rows(any_store, table, table.c.tenant == "abc") > 0
    assert [t.id for t in any_store.tenants()] == ["abc"]
    assert _rows(any_store, states, states.c.key == "shop/abc/tap") == 1
    assert (
        _rows(
            any_store, leases, leases.c.key.in_(["shop/abc/tap", f"link-refresh/{other_link.id}"])
        )
        == 2
    )
    assert any_store.credentials(other_link)[1] == {"refresh_token": "rt-abc"}
    assert (
        _rows(any_store, audit, (audit.c.action == "tenant.remove") & (audit.c.subject == "a_c"))
        == 1
    )


def test_removing_an_unknown_tenant_names_it_and_removes_nothing(store: Store):
    _give(store, "acme")
    with pytest.raises(ConfigError, match="acme"):
        store.remove_tenant("acmee")
    assert _rows(store, tenants, tenants.c.id == "acme") == 1
    assert _rows(store, links, links.c.tenant == "acme") == 1


def test_purge_expired_removes_only_expired_states_and_link_tokens(any_store: Store):
    _give(any_store, "acme")
    assert any_store.purge_expired(now=200.0) == {"oauth_states": 1, "link_tokens": 1}
    assert _rows(any_store, oauth_states, oauth_states.c.expires_at > 200) == 1
    assert _rows(any_store, link_tokens, link_tokens.c.expires_at > 200) == 1
    assert any_store.purge_expired(now=200.0) == {"oauth_states": 0, "link_tokens": 0}
    assert _rows(any_store, leases, leases.c.owner.is_(None)) == 2  # released leases stay
