"""The authorization code flow against a real provider: start_link, finish_link, the state
checks (replayed, expired, foreign, wrong redirect), access_denied, link tokens, glue link's
listener and pasted-URL paths, client credentials and revocation."""

# ruff: noqa: F811  (pytest fixtures imported from conftest_oauth)

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from glue_runtime.errors import ConfigError, CredentialError
from glue_runtime.testing.oauth_provider import OAuthProvider
from glue_runtime.workspace.appsecrets import set_app_secret
from glue_runtime.workspace.oauth import (
    digest,
    finish_link,
    issue_link_token,
    link_client_credentials,
    link_interactively,
    redeem_link_token,
    revoke_tokens,
    start_link,
)
from glue_runtime.workspace.oauthclient import RetryPolicy
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.store import oauth_states
from workspace.conftest_oauth import (  # noqa: F401  (fixtures)
    FLOW,
    MACHINE,
    SOURCE,
    Sleeps,
    approve,
    free_port,
    make_workspace,
    opened,
    provider,
    redirect_location,
    redirect_uri,
    ws_root,
)


def _linked(opened: Opened, provider: OAuthProvider, tenant: str = "acme"):
    started = start_link(opened, FLOW, tenant, SOURCE)
    back = approve(started.url)
    return finish_link(opened, back["state"], code=back["code"])


def test_start_link_url_carries_client_scope_state_redirect_and_s256_challenge(
    opened: Opened, redirect_uri: str
) -> None:
    started = start_link(opened, FLOW, "acme", SOURCE)
    query = {k: v[-1] for k, v in parse_qs(urlsplit(started.url).query).items()}
    assert query["client_id"] == "glue-test-client"
    assert query["scope"] == "contacts.read"
    assert query["state"] == started.state
    assert query["redirect_uri"] == redirect_uri
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(started.state) >= 22  # 43 letters/digits: 256 bits
    assert started.state not in repr(started)
    with opened.store.engine.connect() as conn:
        rows = conn.execute(sa.select(oauth_states)).all()
    assert [r.state_hash for r in rows] == [digest(started.state)]
    assert rows[0].verifier.startswith("g1:")  # the PKCE verifier is encrypted
    assert (rows[0].tenant, rows[0].connector, rows[0].redirect_uri) == (
        "acme",
        SOURCE,
        redirect_uri,
    )
    raw = (opened.workspace.root / ".glue" / "store.db").read_bytes()
    assert started.state.encode() not in raw


def test_finish_link_exchanges_the_code_with_pkce_and_stores_the_tokens(
    opened: Opened, provider: OAuthProvider
) -> None:
    link = _linked(opened, provider)
    assert (link.tenant, link.connector, link.auth, link.status) == ("acme", SOURCE, "oauth2", "ok")
    _, secrets = opened.store.credentials(link)
    assert set(secrets) == {"access_token", "refresh_token", "token_type", "scope", "expires_at"}
    assert link.expires_at == pytest.approx(time.time() + 3600, abs=60)
    assert provider.calls("authorization_code") == 1
    api = requests.get(
        f"{provider.url}/api/contacts",
        headers={"Authorization": f"Bearer {secrets['access_token']}"},
        timeout=10,
    )
    assert api.json()["data"][0]["id"] == "account-a-1"


def test_a_replayed_callback_is_refused_and_changes_nothing(
    opened: Opened, provider: OAuthProvider
) -> None:
    started = start_link(opened, FLOW, "acme", SOURCE)
    back = approve(started.url)
    link = finish_link(opened, back["state"], code=back["code"])
    with pytest.raises(CredentialError, match="already used"):
        finish_link(opened, back["state"], code=back["code"])
    assert opened.store.credentials(link)[0] == link.credential_version
    assert provider.calls("authorization_code") == 1


def test_an_expired_state_is_refused_and_nothing_is_stored(
    opened: Opened, provider: OAuthProvider
) -> None:
    started = start_link(opened, FLOW, "acme", SOURCE)
    back = approve(started.url)
    later = time.time() + opened.workspace.settings.oauth_state_ttl_s + 1
    with pytest.raises(CredentialError, match="expired"):
        finish_link(opened, back["state"], code=back["code"], now=lambda: later)
    assert opened.store.find_link(FLOW, "acme", SOURCE) is None
    assert provider.calls("authorization_code") == 0


def test_a_state_of_another_tenant_cannot_finish_this_tenants_link(
    opened: Opened, provider: OAuthProvider
) -> None:
    started = start_link(opened, FLOW, "acme", SOURCE)
    back = approve(started.url)
    with pytest.raises(CredentialError, match="another tenant"):
        finish_link(opened, back["state"], code=back["code"], tenant="globex", connector=SOURCE)
    with pytest.raises(CredentialError, match="another connector"):
        finish_link(opened, back["state"], code=back["code"], connector=MACHINE)
    assert opened.store.links() == []
    assert provider.calls("authorization_code") == 0


def test_a_wrong_redirect_uri_or_unknown_state_is_refused(
    opened: Opened, provider: OAuthProvider
) -> None:
    started = start_link(opened, FLOW, "acme", SOURCE)
    back = approve(started.url)
    with pytest.raises(CredentialError, match="redirect URI"):
        finish_link(
            opened, back["state"], code=back["code"], redirect_uri="http://127.0.0.1:1/evil"
        )
    with pytest.raises(CredentialError, match="unknown"):
        finish_link(opened, "made-up-state", code=back["code"])
    assert opened.store.links() == []
    # the state was not used up by the refused callbacks: the right one still finishes
    assert finish_link(opened, back["state"], code=back["code"]).status == "ok"


def test_access_denied_is_a_credential_error_naming_it(
    opened: Opened, provider: OAuthProvider
) -> None:
    provider.deny = True
    back = approve(start_link(opened, FLOW, "acme", SOURCE).url)
    assert back["error"] == "access_denied"
    with pytest.raises(CredentialError, match="access_denied") as err:
        finish_link(opened, back["state"], error=back["error"])
    assert err.value.exit_code == 6
    assert opened.store.links() == []


def test_without_pkce_the_url_has_no_challenge(
    tmp_path: Path, provider: OAuthProvider, redirect_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLUE_TEST_OAUTH_CLIENT_SECRET", "glue-test-client-secret")
    root = make_workspace(tmp_path / "nopkce", provider.url, redirect_uri, pkce=False)
    with open_workspace(root) as o:
        started = start_link(o, FLOW, "acme", SOURCE)
        assert "code_challenge" not in started.url
        back = approve(started.url)
        assert finish_link(o, back["state"], code=back["code"]).status == "ok"


def test_start_link_names_unknown_tenant_and_non_oauth_connector(opened: Opened) -> None:
    with pytest.raises(ConfigError, match="unknown tenant 'acme2'"):
        start_link(opened, FLOW, "acme2", SOURCE)
    with pytest.raises(ConfigError, match="does not use OAuth2"):
        start_link(opened, FLOW, "acme", "tickets")
    with pytest.raises(ConfigError, match="client_credentials grant"):
        start_link(opened, FLOW, "acme", MACHINE)
    with opened.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(oauth_states)).scalar() == 0


def test_link_tokens_name_one_tenant_and_connector_until_they_expire_or_the_link_finishes(
    opened: Opened, provider: OAuthProvider
) -> None:
    token = issue_link_token(opened, FLOW, "acme", SOURCE)
    assert redeem_link_token(opened, token) == (FLOW, "acme", SOURCE)
    assert redeem_link_token(opened, token) == (FLOW, "acme", SOURCE)  # not single-use yet
    later = time.time() + opened.workspace.settings.link_token_ttl_s + 1
    with pytest.raises(CredentialError, match="expired"):
        redeem_link_token(opened, token, now=lambda: later)
    with pytest.raises(CredentialError, match="unknown link token"):
        redeem_link_token(opened, "not-a-token")
    keyed = issue_link_token(opened, FLOW, "acme", "tickets")  # any linkable connector
    assert redeem_link_token(opened, keyed) == (FLOW, "acme", "tickets")
    with pytest.raises(ConfigError, match="unknown connector 'contact'"):
        issue_link_token(opened, FLOW, "acme", "contact")
    short = issue_link_token(opened, FLOW, "globex", SOURCE, ttl_s=5)
    assert redeem_link_token(opened, short, now=lambda: time.time() + 4)[1] == "globex"
    _linked(opened, provider, "acme")
    with pytest.raises(CredentialError, match="unknown link token"):
        redeem_link_token(opened, token)
    assert redeem_link_token(opened, short)[1] == "globex"


def test_link_interactively_receives_the_callback_on_the_registered_port(
    opened: Opened, provider: OAuthProvider
) -> None:
    said: list[str] = []
    pages: list[str] = []

    def browser(text: str) -> None:
        said.append(text)
        if "http" in text:  # the tenant's browser follows the URL to the callback listener
            url = text.split()[-1]
            threading.Thread(
                target=lambda: pages.append(requests.get(url, timeout=10).text)
            ).start()

    link = link_interactively(
        opened, FLOW, "acme", SOURCE, open_browser=False, timeout_s=10, say=browser
    )
    assert link.status == "ok" and link.tenant == "acme"
    deadline = time.monotonic() + 10
    while not pages and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "Linked contacts for tenant acme" in pages[0]
    assert opened.store.credentials(link)[1]["access_token"]


def test_link_interactively_with_a_pasted_redirect_url(
    opened: Opened, provider: OAuthProvider
) -> None:
    urls: list[str] = []

    def say(text: str) -> None:
        urls.extend(w for w in text.split() if w.startswith("http"))

    link = link_interactively(
        opened,
        FLOW,
        "globex",
        SOURCE,
        open_browser=False,
        timeout_s=10,
        say=say,
        read_pasted=lambda: redirect_location(urls[0]) + "\n",
    )
    assert (link.tenant, link.status) == ("globex", "ok")


def test_link_interactively_gives_up_after_the_time_limit(opened: Opened) -> None:
    with pytest.raises(CredentialError, match=r"no OAuth callback within 0\.2 s"):
        link_interactively(
            opened, FLOW, "acme", SOURCE, open_browser=False, timeout_s=0.2, say=lambda _t: None
        )
    with pytest.raises(CredentialError, match="not the redirect URL"):
        link_interactively(
            opened,
            FLOW,
            "acme",
            SOURCE,
            open_browser=False,
            timeout_s=5,
            say=lambda _t: None,
            read_pasted=lambda: "hello",
        )
    assert opened.store.links() == []


def test_client_credentials_link(opened: Opened, provider: OAuthProvider) -> None:
    link = link_client_credentials(opened, FLOW, "acme", MACHINE)
    _, secrets = opened.store.credentials(link)
    assert secrets["access_token"] and "refresh_token" not in secrets
    assert secrets["scope"] == "billing.read"
    assert (link.auth, link.status) == ("oauth2", "ok")
    assert provider.calls("client_credentials") == 1


def test_revoke_tokens_revokes_the_refresh_token_then_the_access_token(
    opened: Opened, provider: OAuthProvider
) -> None:
    _, tokens = opened.store.credentials(_linked(opened, provider, "globex"))
    app = opened.workspace.flow(FLOW).connector(SOURCE).oauth
    assert app is not None
    assert revoke_tokens(app, tokens) is True
    assert provider.state.revoked == ["refresh_token", "access_token"]
    refresh = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.client_id, app.client_secret or ""),
        timeout=10,
    )
    assert refresh.json()["error"] == "invalid_grant"
    machine_app = opened.workspace.flow(FLOW).connector(MACHINE).oauth
    assert machine_app is not None
    assert revoke_tokens(machine_app, tokens) is False  # it names no revoke_url


def test_the_client_secret_can_come_from_the_store(
    tmp_path: Path, provider: OAuthProvider, redirect_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLUE_TEST_OAUTH_CLIENT_SECRET", "for the other connector")
    root = make_workspace(tmp_path / "stored", provider.url, redirect_uri, secret_in_store=True)
    with open_workspace(root) as o:
        with pytest.raises(ConfigError, match="has no client secret"):
            start_link(o, FLOW, "acme", SOURCE)
        set_app_secret(o, FLOW, SOURCE, "client_secret", "glue-test-client-secret")
        back = approve(start_link(o, FLOW, "acme", SOURCE).url)
        assert finish_link(o, back["state"], code=back["code"]).status == "ok"


def test_a_refused_or_failed_code_exchange_stores_nothing(
    opened: Opened, provider: OAuthProvider
) -> None:
    back = approve(start_link(opened, FLOW, "acme", SOURCE).url)
    provider.fail_next("invalid_grant")
    with pytest.raises(CredentialError, match="refused the request: invalid_grant") as err:
        finish_link(opened, back["state"], code=back["code"])
    assert back["code"] not in str(err.value)
    back = approve(start_link(opened, FLOW, "acme", SOURCE).url)
    provider.fail_next("503", times=4)
    with pytest.raises(CredentialError, match="did not answer after 4 tries"):
        finish_link(opened, back["state"], code=back["code"], policy=RetryPolicy(sleep=Sleeps()))
    assert opened.store.links() == []


def test_link_interactively_links_a_client_credentials_connector_without_a_browser(
    opened: Opened, provider: OAuthProvider
) -> None:
    said: list[str] = []
    link = link_interactively(
        opened, FLOW, "acme", MACHINE, open_browser=True, timeout_s=1, say=said.append
    )
    assert link.status == "ok" and said == []
    assert provider.calls("client_credentials") == 1


def test_the_provider_runs_as_a_command(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue_runtime.testing.oauth_provider", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
        resp = requests.get(f"http://127.0.0.1:{port}/api/contacts", timeout=10)
        assert resp.status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_link_interactively_needs_a_local_redirect_uri_to_listen_on(
    opened: Opened, provider: OAuthProvider
) -> None:
    app = opened.workspace.flow(FLOW).connector(SOURCE).oauth
    assert app is not None
    remote = dataclasses.replace(app, redirect_uri="https://app.example.com/oauth/callback")
    sources = opened.workspace.flow(FLOW).sources
    sources[SOURCE] = dataclasses.replace(sources[SOURCE], oauth=remote)
    with pytest.raises(ConfigError, match="not a local http address"):
        link_interactively(
            opened, FLOW, "acme", SOURCE, open_browser=False, timeout_s=1, say=lambda _t: None
        )
    with opened.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(oauth_states)).scalar() == 0
