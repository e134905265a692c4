"""`glue tenants add|list|show|remove` and the Python API behind them, on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from glue_runtime.errors import ConfigError, StoreError, UsageError
from glue_runtime.workspace import links as wlinks
from glue_runtime.workspace import store as wstore
from glue_runtime.workspace import tenancy
from workspace.conftest_links import GOOD_KEY, Space, any_space, run_on_terminal, space

__all__ = ["any_space", "space"]  # fixtures


def test_add_list_show(space: Space):
    result = space.cli(
        "tenants", "add", "acme", "--name", "Acme Corp", "--meta", "plan=pro", "--meta", "region=eu"
    )
    assert result.exit_code == 0, result.output
    assert "added tenant 'acme'" in result.output
    assert space.cli("tenants", "add", "beta.co_2-x").exit_code == 0
    rows = json.loads(space.cli("tenants", "list", "--json").output)
    assert [(r["id"], r["name"], r["links"]) for r in rows] == [
        ("acme", "Acme Corp", 0),
        ("beta.co_2-x", "", 0),
    ]
    assert rows[0]["metadata"] == {"plan": "pro", "region": "eu"}
    with space.open() as opened:
        wlinks.link_with_settings(
            opened, "shop", "acme", "keyed", {"account": "a", "api_key": GOOD_KEY}
        )
    shown = json.loads(space.cli("tenants", "show", "acme", "--json").output)
    assert shown["id"] == "acme" and shown["metadata"]["plan"] == "pro"
    assert [(lk["flow"], lk["connector"], lk["status"]) for lk in shown["links"]] == [
        ("shop", "keyed", "ok")
    ]
    assert shown["links"][0]["secrets"] == {"api_key": "****"}
    text = space.cli("tenants", "show", "acme").output
    assert "shop/keyed: read api_key ok" in text and "plan: pro" in text
    with space.open() as opened:
        link = opened.store.link("shop", "acme", "keyed")
        opened.store.set_link_status(link, "needs_reauth", "the provider refused the key")
    text = space.cli("tenants", "show", "acme").output
    assert "read api_key needs_reauth" in text and ": the provider refused the key" in text
    assert "acme" in space.cli("tenants", "list").output


@pytest.mark.parametrize("bad", ["-acme", "a/b", "../etc", "a b", "", "x" * 201, "ünï"])
def test_bad_ids_are_refused_and_nothing_stored(space: Space, bad: str):
    result = space.cli("tenants", "add", "--", bad)
    assert result.exit_code == UsageError.exit_code
    assert "is not a valid tenant id" in result.output and "up to 200" in result.output
    with space.open() as opened:
        assert opened.store.tenants() == []


def test_longest_id_is_accepted(space: Space):
    assert space.cli("tenants", "add", "a" * 200).exit_code == 0


def test_duplicate_and_unknown_tenants_are_named(space: Space):
    space.cli("tenants", "add", "acme")
    again = space.cli("tenants", "add", "acme")
    assert (
        again.exit_code == StoreError.exit_code and "tenant 'acme' already exists" in again.output
    )
    for args in (["show", "acem"], ["remove", "acem", "--yes"]):
        result = space.cli("tenants", *args)
        assert result.exit_code == ConfigError.exit_code
        assert "unknown tenant 'acem'" in result.output and "did you mean 'acme'" in result.output
    bad_meta = space.cli("tenants", "add", "beta", "--meta", "novalue")
    assert bad_meta.exit_code == UsageError.exit_code and "KEY=VALUE" in bad_meta.output


def test_remove_refuses_without_a_terminal_or_yes(space: Space, monkeypatch: pytest.MonkeyPatch):
    space.cli("tenants", "add", "acme")
    result = space.cli("tenants", "remove", "acme")
    assert result.exit_code == UsageError.exit_code
    assert "not confirmed (no terminal to ask on)" in result.output and "--yes" in result.output
    with space.open() as opened:
        assert [t.id for t in opened.store.tenants()] == ["acme"]


def test_remove_refuses_in_ci_even_on_a_terminal(space: Space):
    space.cli("tenants", "add", "acme")
    argv = ["--workspace", str(space.root), "tenants", "remove", "acme"]
    code, shown = run_on_terminal(argv, [], env={**space.env, "CI": "true"})
    assert code == UsageError.exit_code, shown
    assert "--yes" in shown


def test_remove_on_a_terminal_asks_first(space: Space):
    space.cli("tenants", "add", "acme")
    argv = ["--workspace", str(space.root), "tenants", "remove", "acme"]
    code, shown = run_on_terminal(
        argv, [("remove tenant 'acme' and its 0 links?", "n")], env=space.env
    )
    assert code == UsageError.exit_code, shown
    assert "kept" in shown
    with space.open() as opened:
        assert [t.id for t in opened.store.tenants()] == ["acme"]
    code, shown = run_on_terminal(argv, [("remove tenant 'acme'", "y")], env=space.env)
    assert code == 0, shown
    assert "removed tenant 'acme'" in shown
    with space.open() as opened:
        assert opened.store.tenants() == []


def _fill(space: Space, tenant: str) -> None:
    """Every kind of row a tenant can own: an API-key link (with its discovered catalog), an
    OAuth link, a field map override, an OAuth state, a link token, state and leases
    (run leases and the OAuth link's refresh lease)."""
    with space.open() as opened:
        wlinks.link_with_settings(
            opened, "shop", tenant, "keyed", {"account": tenant, "api_key": GOOD_KEY}
        )
        oauth = opened.store.save_link(
            flow="shop",
            tenant=tenant,
            connector="crm",
            direction="read",
            auth="oauth2",
            settings={},
            secrets={"access_token": f"acc-{tenant}", "refresh_token": f"ref-{tenant}"},
        )
        opened.store.save_fieldmap_override("shop", tenant, "keyed", "fields: {}\n")
        with opened.store.write() as conn:
            conn.execute(
                sa.insert(wstore.oauth_states).values(
                    state_hash=f"h-{tenant}",
                    flow="shop",
                    tenant=tenant,
                    connector="crm",
                    redirect_uri="http://127.0.0.1:8765/callback",
                    expires_at=1.0,
                )
            )
            conn.execute(
                sa.insert(wstore.link_tokens).values(
                    token_hash=f"t-{tenant}",
                    flow="shop",
                    tenant=tenant,
                    connector="crm",
                    expires_at=1.0,
                )
            )
            for key in (f"shop/{tenant}/keyed", f"shop/{tenant}/crm", f"sales/{tenant}/books"):
                conn.execute(sa.insert(wstore.states).values(key=key, value="{}", updated_at=1.0))
            for key in (f"shop/{tenant}/keyed", f"link-refresh/{oauth.id}"):
                conn.execute(
                    sa.insert(wstore.leases).values(key=key, owner="w", token=1, expires_at=1.0)
                )


FULL = {
    "tenants": 1,
    "links": 2,
    "catalogs": 1,
    "fieldmap_overrides": 1,
    "oauth_states": 1,
    "link_tokens": 1,
    "states": 3,
    "leases": 2,
}


def test_remove_deletes_every_row_of_the_tenant_and_nothing_of_the_other(any_space: Space):
    # "acme_x" and "acmeAx": an unescaped LIKE pattern ("_" is any character) would take both
    for tenant in ("acme_x", "acmeAx"):
        any_space.cli("tenants", "add", tenant)
        _fill(any_space, tenant)
    assert any_space.counts("acme_x") == FULL and any_space.counts("acmeAx") == FULL
    result = any_space.cli("tenants", "remove", "acme_x", "--yes")
    assert result.exit_code == 0, result.output
    assert any_space.counts("acme_x") == dict.fromkeys(FULL, 0)
    assert any_space.counts("acmeAx") == FULL
    out = result.output
    assert "removed tenant 'acme_x'" in out
    for line in (
        "links: 2",
        "catalogs: 1",
        "fieldmap_overrides: 1",
        "oauth_states: 1",
        "link_tokens: 1",
        "states: 3",
        "leases: 2",
    ):
        assert f"  {line}\n" in out
    assert "revoked the tokens of shop/crm at the provider" in out
    assert any_space.revocation.tokens() == {"acc-acme_x", "ref-acme_x"}
    with any_space.open() as opened, opened.store.engine.connect() as conn:
        audit = [
            tuple(r) for r in conn.execute(sa.select(wstore.audit.c.action, wstore.audit.c.subject))
        ]
    assert ("tenant.remove", "acme_x") in audit


def test_python_api_remove_reports_counts_and_failed_revocations(space: Space):
    with space.open() as opened:
        tenancy.add_tenant(opened, "acme", name="Acme", meta={"k": "v"})
    _fill(space, "acme")
    space.revocation.close()  # the provider is down: reported, the tenant still goes
    with space.open() as opened:
        done = tenancy.remove_tenant(opened, "acme")
        assert opened.store.tenants() == []
    assert {table: n for table, n in done.removed.items() if n} == FULL
    [rev] = done.revocations
    assert rev.attempted and not rev.ok and rev.error
    assert "ref-acme" not in rev.error
    with space.open() as opened, pytest.raises(UsageError):
        tenancy.add_tenant(opened, "no/slash")


def test_remove_warns_when_revocation_fails(space: Space, tmp_path: Path):
    space.cli("tenants", "add", "acme")
    _fill(space, "acme")
    space.revocation.status = 400
    result = space.cli("tenants", "remove", "acme", "--yes")
    assert result.exit_code == 0, result.output
    assert "could not revoke the tokens of shop/crm" in result.output
    assert "revoke them at the provider" in result.output


def test_remove_refuses_while_a_job_holds_the_tenant_lease(space: Space):
    space.cli("tenants", "add", "acme")
    _fill(space, "acme")  # its leases expired long ago: they do not block
    with space.open() as opened, opened.store.write() as conn:
        conn.execute(
            sa.update(wstore.leases)
            .where(wstore.leases.c.key == "shop/acme/keyed")
            .values(owner="job-1", expires_at=1000.0, host="worker-3", pid=4242)
        )
    with space.open() as opened:
        with pytest.raises(UsageError, match=r"shop/acme/keyed \(pid 4242 on worker-3\) is held"):
            tenancy.remove_tenant(opened, "acme", now=lambda: 999.0)
        assert opened.store.tenants() != []
        tenancy.remove_tenant(opened, "acme", now=lambda: 1001.0)  # the lease ran out
        assert opened.store.tenants() == []


def test_remove_and_unlink_cli_refuse_a_running_job_unless_forced(space: Space):
    import time

    space.cli("tenants", "add", "acme")
    _fill(space, "acme")
    with space.open() as opened, opened.store.write() as conn:
        conn.execute(
            sa.update(wstore.leases)
            .where(wstore.leases.c.key == "shop/acme/keyed")
            .values(owner="job-1", expires_at=time.time() + 3600, host="h", pid=1)
        )
    for args in (["unlink", "shop", "keyed", "--tenant", "acme"], ["tenants", "remove", "acme"]):
        result = space.cli(*args, "--yes")
        assert result.exit_code == UsageError.exit_code, result.output
        assert "has a job running" in result.output and "--force" in result.output
    assert space.counts("acme") == FULL
    assert (
        space.cli("unlink", "shop", "crm", "--tenant", "acme", "--yes").exit_code == 0
    )  # not that key
    assert space.cli("tenants", "remove", "acme", "--yes", "--force").exit_code == 0
    assert space.counts("acme") == dict.fromkeys(FULL, 0)
