"""`glue link`, `glue unlink`, `glue links list|show` and the Python API behind them, on a real
store, with a real tap's discovery as the check and a real revocation endpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from glue_runtime.errors import ConfigError, CredentialError, SecretKeyError, UsageError
from glue_runtime.workspace import links as wlinks
from glue_runtime.workspace import store as wstore
from workspace.conftest_links import GOOD_KEY, Space, any_space, raw_rows, run_on_terminal, space

__all__ = ["any_space", "space"]  # fixtures


def _config(tmp_path: Path, **values: object) -> str:
    path = tmp_path / f"settings-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(values))
    return str(path)


def _tenant(space: Space, *ids: str) -> None:
    for tid in ids:
        assert space.cli("tenants", "add", tid).exit_code == 0


def test_link_with_config_file_checks_then_saves_secrets_encrypted(
    any_space: Space, tmp_path: Path
):
    _tenant(any_space, "acme")
    cfg = _config(tmp_path, account="acme-eu", api_key=GOOD_KEY)
    result = any_space.cli("link", "shop", "keyed", "--tenant", "acme", "--config", cfg)
    assert result.exit_code == 0, result.output
    assert "linked tenant 'acme' to shop/keyed (api_key, checked): status ok" in result.output
    with any_space.open() as opened:
        link = opened.store.link("shop", "acme", "keyed")
        assert link.settings == {"account": "acme-eu"}  # not secret: kept in clear
        assert opened.store.credentials(link)[1] == {"api_key": GOOD_KEY}
        catalog = opened.store.catalog("shop", "acme", "keyed")  # discovered with its key
        assert [s["stream"] for s in catalog["streams"]] == ["items"]
    assert GOOD_KEY not in raw_rows(any_space.root)  # encrypted at rest


def test_failed_check_says_what_failed_redacted_and_saves_nothing(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    bad = "bad-key-0x5eed-not-shown"
    result = space.cli(
        "link",
        "shop",
        "keyed",
        "--tenant",
        "acme",
        "--config",
        _config(tmp_path, account="a1", api_key=bad),
    )
    assert result.exit_code == CredentialError.exit_code, result.output
    assert "the check failed, nothing was saved" in result.output
    assert "rejected for account a1" in result.output  # the tap's own error
    assert bad not in result.output
    with space.open() as opened:
        assert opened.store.links() == []
        assert opened.store.catalog("shop", "acme", "keyed") is None


def test_settings_secret_by_glue_yml_are_redacted_and_encrypted(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    region = "zone-7f3e-private"
    cfg = _config(tmp_path, account="a1", api_key="bad-1234", region=region)
    refused = space.cli("-v", "link", "sales", "regional", "--tenant", "acme", "--config", cfg)
    assert refused.exit_code == CredentialError.exit_code, refused.output
    assert "keyed_tap: trying region ***" in refused.output  # relayed at DEBUG, redacted
    assert region not in refused.output
    cfg = _config(tmp_path, account="a1", api_key=GOOD_KEY, region=region)
    result = space.cli("link", "sales", "regional", "--tenant", "acme", "--config", cfg)
    assert result.exit_code == 0 and result.stdout.startswith("linked tenant")
    result = space.cli("link", "sales", "regional", "--tenant", "acme", "--config", cfg)
    assert result.exit_code == 0 and result.stdout.startswith("relinked tenant 'acme'")
    with space.open() as opened:
        link = opened.store.link("sales", "acme", "regional")
        assert link.settings == {"account": "a1"}
        assert opened.store.credentials(link)[1] == {"api_key": GOOD_KEY, "region": region}


def test_no_check_saves_without_running_discovery(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    cfg = _config(tmp_path, account="a1", api_key="bad-but-unchecked")
    result = space.cli("link", "shop", "keyed", "--tenant", "acme", "--config", cfg, "--no-check")
    assert result.exit_code == 0, result.output
    assert "(api_key, unchecked)" in result.output
    with space.open() as opened:
        assert opened.store.link("shop", "acme", "keyed").status == "ok"
        assert opened.store.catalog("shop", "acme", "keyed") is None


@pytest.mark.parametrize(
    ("args", "named", "close"),
    [
        (["shpo", "keyed", "--tenant", "acme"], "unknown flow 'shpo'", "'shop'"),
        (
            ["shop", "keyd", "--tenant", "acme"],
            "unknown connector 'keyd' in flow 'shop'",
            "'keyed'",
        ),
        (["shop", "keyed", "--tenant", "acmee"], "unknown tenant 'acmee'", "'acme'"),
    ],
)
def test_unknown_names_are_named_with_close_matches(space: Space, args, named, close):
    _tenant(space, "acme")
    result = space.cli("link", *args, input="x\nx\n")
    assert result.exit_code == ConfigError.exit_code
    assert named in result.output and f"did you mean {close}" in result.output
    with space.open() as opened:
        assert opened.store.links() == []


def test_target_without_auth_needs_no_link(space: Space):
    _tenant(space, "acme")
    result = space.cli("link", "shop", "warehouse", "--tenant", "acme")
    assert result.exit_code == UsageError.exit_code
    assert "target 'warehouse' of flow 'shop' needs no link" in result.output


def test_write_link_is_checked_against_the_target_schema_only(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    missing = space.cli(
        "link", "shop", "outbox", "--tenant", "acme", "--config", _config(tmp_path, account="a")
    )
    assert missing.exit_code == UsageError.exit_code and "missing setting api_key" in missing.output
    cfg = _config(tmp_path, account="a", api_key="bad-but-no-discovery")  # a target has none
    result = space.cli("link", "shop", "outbox", "--tenant", "acme", "--config", cfg)
    assert result.exit_code == 0, result.output
    with space.open() as opened:
        link = opened.store.link("shop", "acme", "outbox")
        assert (link.direction, link.auth) == ("write", "api_key")
        assert opened.store.catalog("shop", "acme", "outbox") is None


def test_source_without_auth_links_with_nothing_to_ask(space: Space):
    _tenant(space, "acme")
    result = space.cli("link", "sales", "open", "--tenant", "acme", input="")
    assert result.exit_code == 0, result.output
    assert "(none, checked): status ok" in result.output
    with space.open() as opened:
        link = opened.store.link("sales", "acme", "open")
        assert link.settings == {} and not link.has_secrets
        assert opened.store.catalog("sales", "acme", "open") is not None


def test_a_tap_that_does_not_discover_is_checked_by_its_schema(space: Space):
    _tenant(space, "acme")
    bad = {"name": "n", "records": "x"}
    with space.open() as opened, pytest.raises(ConfigError, match="setting 'records': expected"):
        wlinks.link_with_settings(opened, "sales", "acme", "counter", bad)
    with space.open() as opened:
        given = {"name": "n", "token": "tok-123456"}
        link = wlinks.link_with_settings(opened, "sales", "acme", "counter", given)
        assert opened.store.credentials(link)[1] == {"token": "tok-123456"}
        assert opened.store.catalog("sales", "acme", "counter") is None


def test_missing_and_unknown_settings_are_named(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    missing = space.cli(
        "link", "shop", "keyed", "--tenant", "acme", "--config", _config(tmp_path, account="a")
    )
    assert missing.exit_code == UsageError.exit_code
    assert "missing setting api_key" in missing.output
    typo = space.cli(
        "link",
        "shop",
        "keyed",
        "--tenant",
        "acme",
        "--config",
        _config(tmp_path, acount="a", account="a", api_key=GOOD_KEY),
    )
    assert typo.exit_code == ConfigError.exit_code
    assert "unknown setting 'acount'" in typo.output and "did you mean 'account'" in typo.output
    with space.open() as opened:
        assert opened.store.links() == []


def test_app_config_and_settings_list_decide_what_is_asked(space: Space):
    """`books` sets account in its app config: only api_key is asked. `listed` names its
    settings; token_id is secret by glue.yml's secret_settings and fills the app config."""
    _tenant(space, "acme")
    result = space.cli("link", "sales", "books", "--tenant", "acme", input=f"{GOOD_KEY}\n")
    assert result.exit_code == 0, result.output
    assert "account" not in result.output.split("linked")[0]  # not asked
    result = space.cli(
        "link", "sales", "listed", "--tenant", "acme", input="acct\ntok-99887766\n\n"
    )
    assert result.exit_code == 0, result.output
    with space.open() as opened:
        listed = opened.store.link("sales", "acme", "listed")
        assert listed.settings == {"account": "acct"}  # region left empty: optional, skipped
        assert opened.store.credentials(listed)[1] == {"token_id": "tok-99887766"}


def test_prompt_with_no_input_is_a_usage_error(space: Space):
    _tenant(space, "acme")
    result = space.cli("link", "shop", "keyed", "--tenant", "acme", input="")
    assert result.exit_code == UsageError.exit_code
    assert "no value for setting 'account'" in result.output and "--config FILE" in result.output


def test_secret_prompt_does_not_echo_on_a_terminal(space: Space):
    _tenant(space, "acme")
    code, shown = run_on_terminal(
        ["--workspace", str(space.root), "link", "shop", "keyed", "--tenant", "acme"],
        [("account", "acme-terminal"), ("api_key", GOOD_KEY)],
        env=space.env,
    )
    assert code == 0, shown
    assert "acme-terminal" in shown  # a plain setting is echoed as typed
    assert GOOD_KEY not in shown  # the secret one is not
    assert "linked tenant 'acme' to shop/keyed" in shown
    with space.open() as opened:
        link = opened.store.link("shop", "acme", "keyed")
        assert opened.store.credentials(link)[1] == {"api_key": GOOD_KEY}


def test_oauth_connector_is_not_linked_with_settings(space: Space):
    _tenant(space, "acme")
    with (
        space.open() as opened,
        pytest.raises(UsageError, match="links with OAuth2, not with settings"),
    ):
        wlinks.link_with_settings(opened, "shop", "acme", "crm", {"api_key": GOOD_KEY})


def test_relinking_replaces_credentials_and_bumps_the_version(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    with space.open() as opened:
        first = wlinks.link_with_settings(
            opened, "shop", "acme", "keyed", {"account": "a", "api_key": "good-1111"}
        )
        opened.store.set_link_status(first, "needs_reauth", "refused")
        again = wlinks.link_with_settings(
            opened, "shop", "acme", "keyed", {"account": "b", "api_key": "good-2222"}
        )
        assert again.id == first.id and again.credential_version == first.credential_version + 1
        assert again.status == "ok" and again.settings == {"account": "b"}
        assert opened.store.credentials(again)[1] == {"api_key": "good-2222"}
        assert opened.store.catalog("shop", "acme", "keyed") is not None  # from the check
        wlinks.link_with_settings(
            opened, "shop", "acme", "keyed", {"account": "c", "api_key": "x-333"}, check=False
        )
        assert opened.store.catalog("shop", "acme", "keyed") is None  # the next run discovers


def _oauth_link(space: Space, tenant: str, access: str, refresh: str) -> wstore.Link:
    """An OAuth link as the OAuth branch stores one (made here through the store)."""
    with space.open() as opened:
        return opened.store.save_link(
            flow="shop",
            tenant=tenant,
            connector="crm",
            direction="read",
            auth="oauth2",
            settings={},
            secrets={"access_token": access, "refresh_token": refresh},
        )


def _rows_of(space: Space, link: wstore.Link) -> None:
    """A catalog, an override, state and both leases for the link."""
    key = f"{link.flow}/{link.tenant}/{link.connector}"
    with space.open() as opened:
        opened.store.save_catalog(link.flow, link.tenant, link.connector, {"streams": []})
        opened.store.save_fieldmap_override(link.flow, link.tenant, link.connector, "x: y\n")
        with opened.store.write() as conn:
            conn.execute(sa.insert(wstore.states).values(key=key, value="{}", updated_at=1.0))
            for k in (key, f"link-refresh/{link.id}"):
                conn.execute(
                    sa.insert(wstore.leases).values(key=k, owner="o", token=1, expires_at=1.0)
                )


def test_unlink_revokes_oauth_tokens_and_removes_only_that_link(any_space: Space):
    _tenant(any_space, "acme", "beta")
    gone = _oauth_link(any_space, "acme", "acc-acme-1", "ref-acme-1")
    kept = _oauth_link(any_space, "beta", "acc-beta-1", "ref-beta-1")
    for link in (gone, kept):
        _rows_of(any_space, link)
    result = any_space.cli("unlink", "shop", "crm", "--tenant", "acme", "--yes")
    assert result.exit_code == 0, result.output
    assert "revoked its tokens at the provider" in result.output
    assert any_space.revocation.tokens() == {"acc-acme-1", "ref-acme-1"}
    assert {r["token_type_hint"] for r in any_space.revocation.revoked} == {
        "access_token",
        "refresh_token",
    }
    assert all(r["client_id"] == "app-client" for r in any_space.revocation.revoked)
    assert any_space.counts("acme") == {
        "tenants": 1,
        "links": 0,
        "catalogs": 0,
        "fieldmap_overrides": 0,
        "oauth_states": 0,
        "link_tokens": 0,
        "states": 0,
        "leases": 0,
    }
    assert any_space.counts("beta") == {
        "tenants": 1,
        "links": 1,
        "catalogs": 1,
        "fieldmap_overrides": 1,
        "oauth_states": 0,
        "link_tokens": 0,
        "states": 1,
        "leases": 2,
    }


def test_unlink_asks_and_refuses_without_a_terminal(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    space.cli(
        "link",
        "shop",
        "keyed",
        "--tenant",
        "acme",
        "--no-check",
        "--config",
        _config(tmp_path, account="a", api_key=GOOD_KEY),
    )
    result = space.cli("unlink", "shop", "keyed", "--tenant", "acme")
    assert result.exit_code == UsageError.exit_code
    assert "not confirmed" in result.output and "--yes" in result.output
    with space.open() as opened:
        assert opened.store.find_link("shop", "acme", "keyed") is not None


def test_unlink_on_a_terminal_asks_first(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    space.cli(
        "link",
        "shop",
        "keyed",
        "--tenant",
        "acme",
        "--no-check",
        "--config",
        _config(tmp_path, account="a", api_key=GOOD_KEY),
    )
    argv = ["--workspace", str(space.root), "unlink", "shop", "keyed", "--tenant", "acme"]
    code, shown = run_on_terminal(argv, [("unlink shop/keyed", "n")], env=space.env)
    assert code == UsageError.exit_code, shown
    with space.open() as opened:
        assert opened.store.find_link("shop", "acme", "keyed") is not None
    code, shown = run_on_terminal(argv, [("unlink shop/keyed", "y")], env=space.env)
    assert code == 0, shown
    with space.open() as opened:
        assert opened.store.find_link("shop", "acme", "keyed") is None


def test_unlink_unknown_link_names_what_the_tenant_has(space: Space):
    _tenant(space, "acme")
    _oauth_link(space, "acme", "a", "r")
    result = space.cli("unlink", "shop", "crn", "--tenant", "acme", "--yes")
    assert result.exit_code == ConfigError.exit_code
    assert "unknown link 'shop/crn'" in result.output and "did you mean 'shop/crm'" in result.output


def test_failed_revocation_is_reported_and_the_link_still_removed(space: Space):
    _tenant(space, "acme")
    _oauth_link(space, "acme", "acc-x", "ref-x")
    space.revocation.status = 503
    result = space.cli("unlink", "shop", "crm", "--tenant", "acme", "--yes")
    assert result.exit_code == 0, result.output
    assert "could not revoke its tokens" in result.output and "503" in result.output
    assert "ref-x" not in result.output
    with space.open() as opened:
        assert opened.store.links() == []


def test_links_list_and_show_mask_secret_values(space: Space, tmp_path: Path):
    _tenant(space, "acme", "beta")
    for tenant in ("acme", "beta"):
        space.cli(
            "link",
            "shop",
            "keyed",
            "--tenant",
            tenant,
            "--no-check",
            "--config",
            _config(tmp_path, account=f"acct-{tenant}", api_key=GOOD_KEY),
        )
    _oauth_link(space, "beta", "acc-beta-xyz", "ref-beta-xyz")
    listed = space.cli("links", "list", "--json")
    rows = json.loads(listed.output)
    assert [(r["tenant"], r["connector"]) for r in rows] == [
        ("acme", "keyed"),
        ("beta", "crm"),
        ("beta", "keyed"),
    ]
    assert rows[1]["secrets"] == {"access_token": "****", "refresh_token": "****"}
    assert {r["direction"] for r in rows} == {"read"} and rows[0]["auth"] == "api_key"
    only = json.loads(
        space.cli("links", "list", "--tenant", "beta", "--flow", "shop", "--json").output
    )
    assert [r["connector"] for r in only] == ["crm", "keyed"]
    text = space.cli("links", "list", "--tenant", "acme").output
    assert "api_key=****" in text and "acme" in text
    shown = space.cli("links", "show", "shop", "keyed", "--tenant", "acme", "--json")
    detail = json.loads(shown.output)
    assert detail["settings"] == {"account": "acct-acme"} and detail["secrets"] == {
        "api_key": "****"
    }
    assert detail["credential_version"] == 1
    bad = space.cli("links", "list", "--flow", "shpo")
    assert bad.exit_code == ConfigError.exit_code and "did you mean 'shop'" in bad.output


def test_reveal_prints_one_value_records_it_and_warns(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    space.cli(
        "link",
        "shop",
        "keyed",
        "--tenant",
        "acme",
        "--no-check",
        "--config",
        _config(tmp_path, account="a", api_key=GOOD_KEY),
    )
    result = space.cli("links", "show", "shop", "keyed", "--tenant", "acme", "--reveal", "api_key")
    assert result.exit_code == 0
    assert result.stdout.strip() == GOOD_KEY
    assert "secret 'api_key' of link shop/acme/keyed revealed" in result.stderr
    assert GOOD_KEY not in result.stderr
    with space.open() as opened, opened.store.engine.connect() as conn:
        audit = conn.execute(sa.select(wstore.audit.c.action, wstore.audit.c.subject)).all()
    assert ("reveal", "shop/acme/keyed:api_key") in [tuple(r) for r in audit]
    wrong = space.cli("links", "show", "shop", "keyed", "--tenant", "acme", "--reveal", "api_kye")
    assert wrong.exit_code == ConfigError.exit_code and "did you mean 'api_key'" in wrong.output


def test_python_api_link_and_unlink(space: Space):
    with space.open() as opened:
        from glue_runtime.workspace import tenancy

        tenancy.add_tenant(opened, "acme")
        link = wlinks.link_with_settings(
            opened, "shop", "acme", "keyed", {"account": "a", "api_key": GOOD_KEY}
        )
        assert (link.flow, link.tenant, link.connector, link.auth) == (
            "shop",
            "acme",
            "keyed",
            "api_key",
        )
        with pytest.raises(CredentialError):
            wlinks.link_with_settings(opened, "sales", "acme", "books", {"api_key": "nope-1234"})
        assert opened.store.find_link("sales", "acme", "books") is None
        done = wlinks.unlink(opened, "shop", "acme", "keyed")
        assert done.removed["links"] == 1 and done.removed["catalogs"] == 1
        assert not done.revocation.attempted
        assert opened.store.links() == []


def test_without_the_secret_key_listing_works_and_secrets_stay_shut(space: Space, tmp_path: Path):
    _tenant(space, "acme")
    cfg = _config(tmp_path, account="a", api_key=GOOD_KEY)
    space.cli("link", "shop", "keyed", "--tenant", "acme", "--no-check", "--config", cfg)
    no_key = {"GLUE_SECRET_KEY": None}
    rows = json.loads(space.cli("links", "list", "--json", env=no_key).output)
    assert rows[0]["secrets"] == "(no secret key)" and rows[0]["status"] == "ok"
    shown = space.cli(
        "links", "show", "shop", "keyed", "--tenant", "acme", "--reveal", "api_key", env=no_key
    )
    assert shown.exit_code == SecretKeyError.exit_code and "no secret key" in shown.output
    assert GOOD_KEY not in shown.output
    relink = space.cli(
        "link", "shop", "keyed", "--tenant", "acme", "--no-check", "--config", cfg, env=no_key
    )
    assert relink.exit_code == SecretKeyError.exit_code


def test_revocation_uses_the_client_secret_kept_in_the_store(space: Space):
    from glue_runtime.workspace.appsecrets import set_app_secret

    _tenant(space, "acme")
    with space.open() as opened:
        set_app_secret(opened, "shop", "crm_stored", "client_secret", "stored-client-secret-9")
        opened.store.save_link(
            flow="shop",
            tenant="acme",
            connector="crm_stored",
            direction="read",
            auth="oauth2",
            settings={},
            secrets={"refresh_token": "ref-stored-1"},
        )
        done = wlinks.unlink(opened, "shop", "acme", "crm_stored")
    assert done.revocation.ok
    [sent] = space.revocation.revoked
    assert sent["token"] == "ref-stored-1" and sent["client_secret"] == "stored-client-secret-9"
