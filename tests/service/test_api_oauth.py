"""OAuth links through the service against a real provider on 127.0.0.1: start with a key,
the provider's redirect to /v1/oauth/callback, link tokens for the tenant's browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from workspace.conftest_oauth import (  # noqa: F401 - fixtures
    FLOW,
    SOURCE,
    provider,
    redirect_uri,
    ws_root,
)
from workspace.secret_sweep import assert_no_secrets

from glue_runtime.service.keys import create_key
from glue_runtime.service.settings import ServerSettings
from glue_runtime.testing.oauth_provider import CLIENT_SECRET, OAuthProvider
from glue_runtime.workspace.open import open_workspace
from service.conftest import AppServer, serve_app

LINK = f"/v1/flows/{FLOW}/tenants/%s/links/{SOURCE}"


@pytest.fixture
def oauth_server(ws_root: Path, provider: OAuthProvider) -> Iterator[AppServer]:  # noqa: F811
    """The service over the OAuth workspace, its public URL its own address, registered as
    the provider's redirect URI."""
    with serve_app(ws_root, settings=lambda base: ServerSettings(public_url=base)) as running:
        provider.redirect_uris = (running.base + "/v1/oauth/callback",)
        yield running


def _key(root: Path, tenant: str | None) -> str:
    with open_workspace(root) as opened:
        return create_key(opened.store, f"key-{tenant}", tenant)[1]


def _tokens(root: Path, tenant: str) -> dict[str, str]:
    with open_workspace(root) as opened:
        link = opened.store.link(FLOW, tenant, SOURCE)
        assert link.status == "ok"
        return opened.store.credentials(link)[1]


def test_a_tenant_links_with_oauth_through_the_server(
    oauth_server: AppServer,
    ws_root: Path,  # noqa: F811
) -> None:
    client = oauth_server.client(_key(ws_root, "acme"))
    started = client.post(LINK % "acme" + "/oauth")
    assert started.status_code == 200, started.text
    assert started.json()["redirect_uri"] == oauth_server.base + "/v1/oauth/callback"
    # the tenant's browser: the provider approves and redirects to the server's callback
    browser = requests.get(started.json()["authorize_url"], timeout=30)
    assert browser.status_code == 200, browser.text
    assert "Linked" in browser.text
    tokens = _tokens(ws_root, "acme")
    assert tokens["access_token"] and tokens["refresh_token"]
    shown = client.get(LINK % "acme")
    assert shown.json()["secrets"] == {
        n: "****" for n in sorted(tokens) if n in shown.json()["secrets"]
    }
    secrets = [tokens["access_token"], tokens["refresh_token"], CLIENT_SECRET]
    assert_no_secrets(secrets, texts=[started.text, browser.text, shown.text])
    # the same callback again (a replay) is refused and changes nothing
    callback = browser.url
    replay = requests.get(callback, timeout=30)
    assert replay.status_code == 400 and "Not linked" in replay.text
    assert _tokens(ws_root, "acme") == tokens


def test_a_link_token_lets_the_tenants_browser_start_the_link(
    oauth_server: AppServer,
    ws_root: Path,  # noqa: F811
) -> None:
    client = oauth_server.client(_key(ws_root, None))
    made = client.post(LINK % "globex" + "/link-token")
    assert made.status_code == 200, made.text
    token = made.json()["link_token"]
    assert made.json()["start_url"] == oauth_server.base + "/v1/oauth/start"
    browser = requests.get(
        oauth_server.base + "/v1/oauth/start", params={"link_token": token}, timeout=30
    )
    assert browser.status_code == 200 and "Linked" in browser.text, browser.text
    assert _tokens(ws_root, "globex")["access_token"]
    used = requests.get(
        oauth_server.base + "/v1/oauth/start", params={"link_token": token}, timeout=30
    )
    assert used.status_code == 400, used.text  # the link finished: the token is spent


def test_a_denied_or_forged_callback_links_nothing(
    oauth_server: AppServer,
    ws_root: Path,  # noqa: F811
    provider: OAuthProvider,  # noqa: F811
) -> None:
    client = oauth_server.client(_key(ws_root, "acme"))
    provider.deny = True
    denied = requests.get(client.post(LINK % "acme" + "/oauth").json()["authorize_url"], timeout=30)
    assert denied.status_code == 400 and "access_denied" in denied.text
    forged = requests.get(
        oauth_server.base + "/v1/oauth/callback",
        params={"state": "made-up", "code": "x"},
        timeout=30,
    )
    assert forged.status_code == 400
    with open_workspace(ws_root) as opened:
        assert opened.store.find_link(FLOW, "acme", SOURCE) is None


def test_a_tenant_key_cannot_start_another_tenants_oauth_link(
    oauth_server: AppServer,
    ws_root: Path,  # noqa: F811
) -> None:
    client = oauth_server.client(_key(ws_root, "acme"))
    assert client.post(LINK % "globex" + "/oauth").status_code == 404
    assert client.post(LINK % "globex" + "/link-token").status_code == 404


def _metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {line_start} in /metrics")


def test_metrics_count_token_refreshes_from_the_store(
    oauth_server: AppServer,
    ws_root: Path,  # noqa: F811
    provider: OAuthProvider,  # noqa: F811
) -> None:
    from workspace.conftest_oauth import quick

    from glue_runtime.workspace.tokens import fresh_credentials

    client = oauth_server.client(_key(ws_root, "acme"))
    requests.get(client.post(LINK % "acme" + "/oauth").json()["authorize_url"], timeout=30)
    ok = 'glue_token_refreshes{outcome="ok"}'
    failed = 'glue_token_refreshes{outcome="failed"}'
    before = oauth_server.client(None).get("/metrics").text
    assert (_metric(before, ok), _metric(before, failed)) == (0, 0)
    with open_workspace(ws_root) as opened:  # what a job's process does before its run
        link = opened.store.link(FLOW, "acme", SOURCE)
        fresh_credentials(opened, link, now=lambda: 4_000_000_000.0, policy=quick())
        provider.fail_next("invalid_grant")
        with pytest.raises(Exception, match="re-authorisation"):
            fresh_credentials(opened, link, now=lambda: 5_000_000_000.0, policy=quick())
    after = oauth_server.client(None).get("/metrics").text
    assert (_metric(after, ok), _metric(after, failed)) == (1, 1)
